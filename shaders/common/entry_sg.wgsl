// common/entry_sg.wgsl — entry point for kernels written as `run(wid, nwg, li, sg)` on adapters
// with subgroups of at least 8 (kernels::subgroups_of_8): SHARE is true, sg is the subgroup
// lane, and share(v, l) is v as held by lane l (subgroupShuffle; the callers stay in uniform
// control flow). The entry is main_sg, so the kernel's two variants differ in the pipeline
// cache key and the profiler's labels. Twin library: common/entry_plain.wgsl.
// Dispatch and CPU twin: those of the including kernel.

const SHARE: bool = true;

fn share(v: vec4<f32>, lane: u32) -> vec4<f32> {
    return subgroupShuffle(v, lane);
}

@compute @workgroup_size(WG)
fn main_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) sg: u32) {
    run(wid, nwg, li, sg);
}
