// Images in the browser: decoding files exactly as Python does, and any drawable -> RGBA pixels.
//
// Pixels are {data: Uint8ClampedArray RGBA, width, height} (an ImageData, or the same shape of
// plain object in node). Image pixels: x right, y down, (0, 0) the centre of the top-left pixel.

/** A readable error for a file the browser cannot decode. */
export class ImageDecodeError extends Error {}

/**
 * Decode an image file (a Blob or File) to an ImageBitmap without colour management, which gives
 * the same pixels as Python's decoder (OpenCV, libjpeg-turbo / libpng) for JPEG and PNG files;
 * EXIF orientation is applied as Python does. Throws ImageDecodeError naming the file.
 */
export async function decodeImageFile(blob) {
  try {
    return await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch (e) {
    const name = blob && blob.name ? blob.name : 'the file';
    throw new ImageDecodeError(`${name}: cannot be decoded as an image (${e && e.name ? e.name : 'error'})`);
  }
}

function isPixels(source) {
  return source && source.data instanceof Uint8ClampedArray && Number.isInteger(source.width)
    && Number.isInteger(source.height) && source.data.length === source.width * source.height * 4;
}

function sourceSize(source) {
  if (typeof HTMLVideoElement !== 'undefined' && source instanceof HTMLVideoElement) return [source.videoWidth, source.videoHeight];
  if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement) return [source.naturalWidth, source.naturalHeight];
  if (typeof VideoFrame !== 'undefined' && source instanceof VideoFrame) return [source.displayWidth, source.displayHeight];
  return [source.width, source.height];
}

/** Reads drawables into RGBA pixels through one reused canvas. */
export class PixelReader {
  constructor() {
    this.canvas = null;
    this.context = null;
  }

  /** RGBA pixels of an ImageData / pixel object (returned as is), an ImageBitmap, a canvas, an
   * <img>, a <video> (its current frame) or a VideoFrame. */
  read(source) {
    if (isPixels(source)) return source;
    const [w, h] = sourceSize(source);
    if (!(w > 0 && h > 0)) throw new ImageDecodeError('the image or video frame is empty (0 x 0 pixels)');
    if (this.canvas === null) {
      this.canvas = new OffscreenCanvas(w, h);
      this.context = this.canvas.getContext('2d', { willReadFrequently: true });
    }
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.context.drawImage(source, 0, 0);
    return this.context.getImageData(0, 0, w, h);
  }
}
