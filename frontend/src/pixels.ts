// RGBA pixels as a data: URL image (TensorBoard's CSP allows data: images only).

export interface Rgba {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** A PNG data: URL of the pixels, or null where there is no canvas (unit tests) or nothing to draw. */
export function rgbaDataUrl(pixels: Rgba): string | null {
  if (typeof document === "undefined" || !pixels.width || !pixels.height) return null;
  const canvas = document.createElement("canvas");
  canvas.width = pixels.width;
  canvas.height = pixels.height;
  const context = canvas.getContext("2d");
  if (!context) return null;
  const image = context.createImageData(pixels.width, pixels.height);
  image.data.set(pixels.data);
  context.putImageData(image, 0, 0);
  try {
    return canvas.toDataURL("image/png");
  } catch {
    return null;
  }
}
