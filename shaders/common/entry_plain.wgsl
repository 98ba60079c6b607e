// common/entry_plain.wgsl — entry point for kernels written as `run(wid, nwg, li, sg)` that can
// share loaded values across a subgroup (SHARE) but also run without subgroups: here SHARE is
// false, `share` is never called and sg is 0. Twin library: common/entry_sg.wgsl.
// Dispatch and CPU twin: those of the including kernel.

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
