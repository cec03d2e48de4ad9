const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from the IHDR chunk, which the PNG format requires to come first, right after the signature. */
export function readPngSize(png: Buffer): { width: number; height: number } {
  const hasHeader =
    png.length >= 24 && png.subarray(0, 8).equals(PNG_SIGNATURE) && png.toString('latin1', 12, 16) === 'IHDR';
  if (!hasHeader) {
    throw new Error('Grid image is not a PNG: expected the PNG signature followed by an IHDR chunk');
  }
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
