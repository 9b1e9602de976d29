/**
 * Node glue: a `GPU` object from the `webgpu` package (Dawn). Import this only from Node
 * code (tests, CLI, benchmarks); the browser passes `navigator.gpu` instead.
 *
 * On a machine without a GPU, set VK_ICD_FILENAMES to a software Vulkan driver first (for
 * example /usr/lib/chromium/vk_swiftshader_icd.json) and XDG_RUNTIME_DIR to any directory.
 */
export async function nodeGpu(options: string[] = []): Promise<GPU> {
  const { create, globals } = await import('webgpu');
  // GPUBufferUsage, GPUMapMode, GPUShaderStage… as globals, as in a browser.
  Object.assign(globalThis, globals);
  return create(options);
}
