import { faceToSvgString, generate, svgsIndex, type FaceConfig } from 'facesjs';
import sharp from 'sharp';
import type { FaceLabels } from './types';
import { mixSeed, seededRandom } from '@facegan/random';
import { pick, withMathRandom } from './random';

/**
 * The cartoon "universe": face #i is a pure function of i. Changing anything that alters the drawing
 * (palettes, shares, crop) must bump CARTOON_VERSION so that on-disk caches are not reused.
 */
export const CARTOON_VERSION = 'v3';
const UNIVERSE_SALT = 0x5eed_fa11;
/** The backdrop draws from a stream of its own: adding it (v2) left every other draw, and so every v1 label, as it was. */
const BACKDROP_SALT = 0x0bac_d201;

const GLASSES_SHARE = 0.3;
const HAT_SHARE = 0.15;
const FACIAL_HAIR_SHARE_OF_MEN = 0.4;

/** Real glasses only: facesjs also lists a sports `facemask`, which nobody would label as glasses. */
const GLASSES_IDS = ['glasses1-primary', 'glasses1-secondary', 'glasses2-black', 'glasses2-primary', 'glasses2-secondary'];
/** Hats only: headbands and eye-black are left out, so `hat` means a hat and no other accessory is drawn. */
const HAT_IDS = ['hat', 'hat2', 'hat3'];
/** Beards and moustaches: side-burns-only styles are left out so `facialHair` always means a visible beard or moustache. */
const FACIAL_HAIR_IDS = svgsIndex.facialHair.filter((id) => id !== 'none' && !/^(sideburns\d|wilt-sideburns-)/.test(id));

/** Hair colours we draw, by the label they carry (facesjs's own palettes have no gray and few reds). */
const HAIR_COLORS: Record<FaceLabels['hairColor'], { share: number; colors: string[] }> = {
  black: { share: 0.34, colors: ['#272421', '#1c1008', '#0f0902'] },
  brown: { share: 0.28, colors: ['#3d2314', '#5a3825', '#6b4426'] },
  blonde: { share: 0.16, colors: ['#e9c67b', '#d7bf91', '#f0d58c'] },
  red: { share: 0.1, colors: ['#b55239', '#a0401e', '#c1633a'] },
  gray: { share: 0.12, colors: ['#9c9a97', '#bdbbb8', '#dcdad6'] },
};

/** Plain light backdrops, like the wall behind a passport photo. */
const BACKGROUNDS = ['#e8eef2', '#f2ede4', '#e6f0e6', '#efe6ee', '#f4f4f4', '#e3e8f4'];
const VARIED_BACKGROUND_SHARE = 0.4;
/** Colours of busy backdrops (a room, a street, foliage): saturated and darker than the plain walls. */
const SCENE_COLORS = ['#2e6b8a', '#8a3b2e', '#3f7d3a', '#c98a2b', '#5b3f8a', '#1f4f4a', '#a0526d', '#6d6a2e', '#304060', '#b86a3c'];

/** Square crop of facesjs's 400×600 canvas around the head, so the face fills the frame like an aligned photo crop. */
export const FACE_CROP = { x: 5, y: 120, size: 390 } as const;

export interface CartoonFace {
  labels: FaceLabels;
  svg: string;
}

interface FaceDraw {
  face: FaceConfig;
  labels: FaceLabels;
  /** SVG elements drawn behind the face. */
  backdrop: string;
}

/** The facesjs face object and labels of face #index (no SVG: cheap enough to scan tens of thousands). */
export function cartoonFaceConfig(index: number): { face: FaceConfig; labels: FaceLabels } {
  const { face, labels } = drawFace(index);
  return { face, labels };
}

export function cartoonLabels(index: number): FaceLabels {
  return drawFace(index).labels;
}

/** Face #index of the cartoon universe: its labels and its framed SVG (square, plain or varied background). */
export function cartoonFace(index: number): CartoonFace {
  const { face, labels, backdrop } = drawFace(index);
  return { labels, svg: frameSvg(faceToSvgString(face), backdrop) };
}

/** Faces are rasterised at 128 px (or the next multiple of 128 above the resolution) and resized down from there. */
export function cartoonRenderSize(resolution: number): number {
  return Math.max(128, Math.ceil(resolution / 128) * 128);
}

/** Rasterises face #index to an opaque size × size RGB PNG. */
export async function renderCartoonPng(index: number, size: number): Promise<Buffer> {
  const { svg } = cartoonFace(index);
  const sized = svg.replace('<svg ', `<svg width="${size}" height="${size}" `);
  return sharp(Buffer.from(sized)).flatten({ background: '#ffffff' }).png().toBuffer();
}

function drawFace(index: number): FaceDraw {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new RangeError(`cartoon face index must be a non-negative integer, got ${index}`);
  }
  const random = seededRandom(mixSeed(UNIVERSE_SALT, index));
  // Our own choices come first, from the same stream, so facesjs's draws can't shift them.
  const gender: FaceLabels['gender'] = random() < 0.5 ? 'male' : 'female';
  const glassesId = random() < GLASSES_SHARE ? pick(random, GLASSES_IDS) : 'none';
  const accessoryId = random() < HAT_SHARE ? pick(random, HAT_IDS) : 'none';
  const facialHairId = gender === 'male' && random() < FACIAL_HAIR_SHARE_OF_MEN ? pick(random, FACIAL_HAIR_IDS) : 'none';
  const hairColor = pickHairColor(random);
  const plainColor = pick(random, BACKGROUNDS);

  const face = withMathRandom(random, () =>
    generate(
      {
        glasses: { id: glassesId },
        accessories: { id: accessoryId },
        facialHair: { id: facialHairId },
        hair: { color: hairColor },
      },
      { gender },
    ),
  );
  // Bald heads would show their hair colour only in the eyebrows; give them short hair instead.
  if (face.hair.id === 'bald') face.hair.id = 'short-bald';
  const backdropRandom = seededRandom(mixSeed(BACKDROP_SALT, index));
  const background: FaceLabels['background'] = backdropRandom() < VARIED_BACKGROUND_SHARE ? 'varied' : 'plain';
  const backdrop = background === 'varied' ? variedBackdrop(backdropRandom, index) : plainBackdrop(plainColor);
  return { face, labels: labelsOf(face, gender, background), backdrop };
}

function plainBackdrop(color: string): string {
  const { x, y, size } = FACE_CROP;
  return `<rect x="${x}" y="${y}" width="${size}" height="${size}" fill="${color}"/>`;
}

/** A gradient and a few overlapping shapes in scene colours: clutter behind the head, like a photo taken anywhere. */
function variedBackdrop(random: () => number, index: number): string {
  const { x, y, size } = FACE_CROP;
  const at = (offset: number) => Math.round(offset + random() * size);
  const id = `backdrop-${index}`;
  const [from, to] = [pick(random, SCENE_COLORS), pick(random, SCENE_COLORS)];
  const elements = [
    `<defs><linearGradient id="${id}" x1="0" y1="0" x2="${random().toFixed(2)}" y2="1">` +
      `<stop offset="0" stop-color="${from}"/><stop offset="1" stop-color="${to}"/></linearGradient></defs>`,
    `<rect x="${x}" y="${y}" width="${size}" height="${size}" fill="url(#${id})"/>`,
  ];
  const shapes = 4 + Math.floor(random() * 4);
  for (let shape = 0; shape < shapes; shape++) {
    const color = pick(random, SCENE_COLORS);
    const extent = Math.round(40 + random() * 140);
    elements.push(
      random() < 0.5
        ? `<rect x="${at(x) - extent / 2}" y="${at(y) - extent / 2}" width="${extent}" height="${Math.round(extent * (0.3 + random()))}" fill="${color}"/>`
        : `<circle cx="${at(x)}" cy="${at(y)}" r="${Math.round(extent / 2)}" fill="${color}"/>`,
    );
  }
  return elements.join('');
}

function pickHairColor(random: () => number): string {
  let roll = random();
  const buckets = Object.values(HAIR_COLORS);
  for (const bucket of buckets) {
    if (roll < bucket.share) return pick(random, bucket.colors);
    roll -= bucket.share;
  }
  return pick(random, buckets[buckets.length - 1].colors);
}

/** Labels read back from what the face object will draw. */
function labelsOf(face: FaceConfig, gender: FaceLabels['gender'], background: FaceLabels['background']): FaceLabels {
  return {
    gender,
    glasses: face.glasses.id !== 'none',
    facialHair: face.facialHair.id !== 'none',
    hat: HAT_IDS.includes(face.accessories.id),
    skinTone: skinToneOf(face.body.color),
    hairColor: hairColorOf(face.hair.color),
    background,
  };
}

/** Buckets a skin colour by its luma: facesjs's palettes fall into three clear groups (≥170, 110–170, <110). */
export function skinToneOf(hex: string): FaceLabels['skinTone'] {
  const luma = lumaOf(hex);
  if (luma >= 170) return 'light';
  if (luma >= 110) return 'medium';
  return 'dark';
}

export function hairColorOf(hex: string): FaceLabels['hairColor'] {
  const wanted = hex.toLowerCase();
  for (const [bucket, { colors }] of Object.entries(HAIR_COLORS)) {
    if (colors.includes(wanted)) return bucket as FaceLabels['hairColor'];
  }
  throw new Error(`hair colour ${hex} is not in the cartoon palette`);
}

function lumaOf(hex: string): number {
  const value = Number.parseInt(hex.replace('#', ''), 16);
  const r = (value >> 16) & 0xff;
  const g = (value >> 8) & 0xff;
  const b = value & 0xff;
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

/** Crops facesjs's SVG to the head and puts the backdrop behind it; width/height are set at render time. */
function frameSvg(svg: string, backdrop: string): string {
  const { x, y, size } = FACE_CROP;
  const openTagEnd = svg.indexOf('>');
  const openTag = svg
    .slice(0, openTagEnd)
    .replace(/\s(width|height|viewBox|preserveAspectRatio)="[^"]*"/g, '')
    .concat(` viewBox="${x} ${y} ${size} ${size}" preserveAspectRatio="xMidYMid slice">`);
  return `${openTag}\n${backdrop}${svg.slice(openTagEnd + 1)}`;
}
