// transformer/gpt_infer_sg.wgsl — entry point of the fused minGPT inference stack
// (transformer/gpt_body.wgsl: maths, layout, dispatch) for adapters with subgroups of at least
// 8 invocations: lane l of a subgroup loads the activations of 4-step k0 + l and the
// projections take them from it by shuffle (one activation load per 8 steps of k).
// Dispatch: kernels::grid(batch). CPU twin: cpu::transformer::gpt_infer.

const SHARE: bool = true;

// v as held by subgroup lane `lane`.
fn share(v: vec4<f32>, lane: u32) -> vec4<f32> {
    return subgroupShuffle(v, lane);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) sg: u32) {
    run(wid, nwg, li, sg);
}
