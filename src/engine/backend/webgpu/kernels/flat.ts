/**
 * WGSL: the start of a kernel with one invocation per item (an element, a column, a group):
 * main's signature and `let <index> = …`, the item of this invocation — workgroups are laid
 * out on rt.grid's two-dimensional grid, so wid.y·nwg.x + wid.x numbers them — with the
 * invocations past the last item returning at once. Dispatch with rt.grid(⌈count / wg⌉).
 */
export function flatKernelStartWgsl(wg: number, index: string, count: string): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let ${index} = (wid.y * nwg.x + wid.x) * ${wg}u + li;
  if (${index} >= ${count}) { return; }`;
}
