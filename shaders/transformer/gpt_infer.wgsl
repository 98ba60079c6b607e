// transformer/gpt_infer.wgsl — entry point of the fused minGPT inference stack
// (transformer/gpt_body.wgsl: maths, layout, dispatch) for adapters without subgroups: every
// invocation loads the activations it multiplies itself.
// Dispatch: kernels::grid(batch). CPU twin: cpu::transformer::gpt_infer.

const SHARE: bool = false;

// Not called without SHARE.
fn share(v: vec4<f32>, lane: u32) -> vec4<f32> {
    return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    run(wid, nwg, li, 0u);
}
