import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CELEBA_ATTRIBUTES } from '@facegan/spec';
import { afterAll, describe, expect, it } from 'vitest';
import { folderWith, pictureJpeg, UTKFACE_SAMPLE } from '../test/fixtures';
import { boxFromLandmarks, celebaLabels, parseCelebaTable, readCelebaCatalog } from './celeba';
import { labelValueOf, parseCsv, readFolderCatalog } from './folder';
import { parseUtkfaceName, readUtkfaceCatalog } from './utkface';

const folders: string[] = [];
async function fixture(files: Record<string, Buffer | string>): Promise<string> {
  const root = await folderWith(files);
  folders.push(root);
  return root;
}
afterAll(async () => {
  await Promise.all(folders.map((root) => rm(root, { recursive: true, force: true })));
});

describe('utkface', () => {
  it.each([
    ['26_0_2_20170104023102422.jpg.chip.jpg', { age: 26, gender: 'male', race: 'asian' }],
    ['1_1_4_20161221193016140.jpg', { age: 1, gender: 'female', race: 'others' }],
    ['sub/116_1_0_20170120134921760.jpg.chip.jpg', { age: 116, gender: 'female', race: 'white' }],
    ['0_0_3_1.png', { age: 0, gender: 'male', race: 'indian' }],
  ])('reads the labels of %s', (name, labels) => {
    expect(parseUtkfaceName(name)).toEqual({ labels });
  });

  it.each([
    ['39_1_20170116174525125.jpg.chip.jpg', '3 fields where UTKFace names have 4 (age_gender_race_date)'],
    ['61_1_3_4_20170109142408075.jpg.chip.jpg', '5 fields where UTKFace names have 4 (age_gender_race_date)'],
    ['face.jpg', '1 field where UTKFace names have 4 (age_gender_race_date)'],
    ['x_0_0_20170109142408075.jpg', 'age "x" is not a whole number of years from 0 to 130'],
    ['200_0_0_20170109142408075.jpg', 'age "200" is not a whole number of years from 0 to 130'],
    ['30_2_0_20170109142408075.jpg', 'gender "2" is not 0 (male) or 1 (female)'],
    ['30__0_20170109142408075.jpg', 'gender "" is not 0 (male) or 1 (female)'],
    ['30_0_5_20170109142408075.jpg', 'race "5" is not 0-4 (white, black, asian, indian, others)'],
    ['30_0_0_2017-01-09.jpg', 'date "2017-01-09" is not a timestamp of digits'],
  ])('reports %s instead of guessing', (name, problem) => {
    expect(parseUtkfaceName(name)).toEqual({ problem });
  });

  it('lists the images of a folder with their labels, and the names it cannot parse', async () => {
    const jpeg = await pictureJpeg(48, 48, 1);
    const root = await fixture({
      '20_0_1_20170101000000001.jpg.chip.jpg': jpeg,
      '64_1_2_20170101000000002.jpg.chip.jpg': jpeg,
      '39_1_20170116174525125.jpg.chip.jpg': jpeg,
      'README.md': '# not an image',
    });
    const catalog = await readUtkfaceCatalog(root);
    expect(catalog.items.map(({ id, labels }) => ({ id, labels }))).toEqual([
      { id: '20_0_1_20170101000000001.jpg.chip.jpg', labels: { age: 20, gender: 'male', race: 'black' } },
      { id: '64_1_2_20170101000000002.jpg.chip.jpg', labels: { age: 64, gender: 'female', race: 'asian' } },
    ]);
    expect(catalog.items[0].file).toBe(join(root, '20_0_1_20170101000000001.jpg.chip.jpg'));
    expect(catalog.skipped).toEqual([
      { file: '39_1_20170116174525125.jpg.chip.jpg', reason: expect.stringMatching(/^file name does not parse as age_gender_race_date: 3 fields/) },
    ]);
    expect(Object.keys(catalog.labels)).toEqual(['age', 'gender', 'race']);
    await expect(readUtkfaceCatalog(join(root, 'nowhere'))).rejects.toThrow(/nowhere does not exist/);
  });

  it.skipIf(!existsSync(UTKFACE_SAMPLE))('reads the shared sample: 2,000 photos, half men, 400 of each race', async () => {
    const catalog = await readUtkfaceCatalog(UTKFACE_SAMPLE);
    expect(catalog.items).toHaveLength(2000);
    expect(catalog.skipped).toEqual([]);
    expect(catalog.items.filter((item) => item.labels.gender === 'male')).toHaveLength(1000);
    for (const race of ['white', 'black', 'asian', 'indian', 'others']) {
      expect(catalog.items.filter((item) => item.labels.race === race)).toHaveLength(400);
    }
  });
});

/** A CelebA-shaped folder: 40 attributes per row, -1/1, in CelebA's two-line header format. */
function attributeRow(file: string, set: Partial<Record<(typeof CELEBA_ATTRIBUTES)[number], boolean>>, spacing = ' '): string {
  return [file, ...CELEBA_ATTRIBUTES.map((name) => (set[name] ? ' 1' : '-1'))].join(spacing);
}

describe('celeba', () => {
  it('parses tables, reporting rows with the wrong number of values', () => {
    const table = parseCelebaTable('2\nA B\n1.jpg  1 -1\n2.jpg 1\n\n3.jpg -1 -1\n1.jpg 1 1\n', 'list.txt', 2, 2);
    expect([...table.rows]).toEqual([
      ['1.jpg', ['1', '-1']],
      ['3.jpg', ['-1', '-1']],
    ]);
    expect(table.problems).toEqual([
      { file: '2.jpg', reason: 'list.txt line 4 has 1 values, 2 expected' },
      { file: '1.jpg', reason: 'list.txt line 7 repeats 1.jpg' },
    ]);
  });

  it('keeps the attribute names and maps them onto the common labels', () => {
    const names = ['Male', 'Eyeglasses', 'No_Beard', 'Mustache', 'Wearing_Hat', 'Smiling'];
    expect(celebaLabels(names, ['1', '-1', '1', '1', '-1', '1'])).toEqual({
      Male: true, Eyeglasses: false, No_Beard: true, Mustache: true, Wearing_Hat: false, Smiling: true,
      gender: 'male', glasses: false, hat: false, facialHair: true,
    });
    expect(celebaLabels(names, ['-1', '1', '-1', '-1', '1', '-1'])).toMatchObject({ gender: 'female', glasses: true, hat: true, facialHair: true });
    expect(celebaLabels(names, ['-1', '1', '1', '-1', '1', '0'])).toBe('Smiling is "0", not 1 or -1');
  });

  it('builds a square face box between the eyes and the mouth', () => {
    const box = boxFromLandmarks([68, 111, 108, 111, 88, 135, 72, 152, 104, 152]);
    expect(box.width).toBeCloseTo(3.2 * 41, 6);
    expect(box.height).toBe(box.width);
    expect(box.x + box.width / 2).toBeCloseTo(88, 6);
    expect(box.y + box.height / 2).toBeCloseTo(131.5, 6);
  });

  it('reads the layout: images, attributes, partitions, landmarks; reports what does not line up', async () => {
    const jpeg = await pictureJpeg(178, 218, 2);
    const rows = [
      attributeRow('000001.jpg', { Male: true, Eyeglasses: true, Smiling: true }, '  '),
      attributeRow('000002.jpg', {}),
      attributeRow('000003.jpg', { Wearing_Hat: true, No_Beard: true }),
      attributeRow('000004.jpg', { Male: true }).replace(/ -1$/, ''),
      attributeRow('000009.jpg', {}),
    ];
    const root = await fixture({
      'img_align_celeba/000001.jpg': jpeg,
      'img_align_celeba/000002.jpg': jpeg,
      'img_align_celeba/000003.jpg': jpeg,
      'img_align_celeba/000004.jpg': jpeg,
      'img_align_celeba/000005.jpg': jpeg,
      'Anno/list_attr_celeba.txt': `${rows.length}\n${CELEBA_ATTRIBUTES.join(' ')}\n${rows.join('\n')}\n`,
      'Eval/list_eval_partition.txt': '000001.jpg 0\n000002.jpg 1\n000003.jpg 2\n',
      'list_landmarks_align_celeba.txt': '3\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y\n' +
        '000001.jpg 68 111 108 111 88 135 72 152 104 152\n000002.jpg 70 112 107 112 89 134 73 151 103 151\n',
    });
    const catalog = await readCelebaCatalog(root);
    expect(catalog.items.map((item) => item.id)).toEqual(['img_align_celeba/000001.jpg', 'img_align_celeba/000002.jpg', 'img_align_celeba/000003.jpg']);
    expect(catalog.items[0].labels).toMatchObject({ Male: true, Eyeglasses: true, Smiling: true, gender: 'male', glasses: true, facialHair: true, partition: 'train' });
    expect(catalog.items[2].labels).toMatchObject({ gender: 'female', hat: true, facialHair: false, partition: 'test' });
    expect(catalog.items[0].box?.width).toBeCloseTo(131.2, 6);
    expect(catalog.items[2].box).toBeUndefined();
    expect(catalog.boxes).toBe('list_landmarks_align_celeba.txt');
    expect(catalog.skipped).toEqual([
      { file: '000004.jpg', reason: 'list_attr_celeba.txt line 6 has 39 values, 40 expected' },
      { file: 'img_align_celeba/000005.jpg', reason: 'no row in list_attr_celeba.txt' },
      { file: 'img_align_celeba/000009.jpg', reason: 'listed in list_attr_celeba.txt but not in img_align_celeba/' },
    ]);
    expect(Object.keys(catalog.labels)).toEqual([...CELEBA_ATTRIBUTES, 'gender', 'glasses', 'facialHair', 'hat', 'partition']);
  });

  it('needs the attribute list', async () => {
    const root = await fixture({ 'img_align_celeba/000001.jpg': await pictureJpeg(40, 40, 1) });
    await expect(readCelebaCatalog(root)).rejects.toThrow(/list_attr_celeba\.txt is missing/);
  });
});

describe('folder', () => {
  it('parses CSV with quotes, escaped quotes, CRLF and blank lines', () => {
    expect(parseCsv('file,note\r\n"a,b.jpg","say ""hi"""\r\n\r\nc.jpg,\n')).toEqual([
      ['file', 'note'],
      ['a,b.jpg', 'say "hi"'],
      ['c.jpg', ''],
    ]);
    expect(parseCsv('file\nlast.jpg')).toEqual([['file'], ['last.jpg']]);
  });

  it.each([
    ['true', true],
    ['FALSE', false],
    ['42', 42],
    ['-0.5', -0.5],
    [' 7 ', 7],
    ['female', 'female'],
    ['1e3', 1000],
    ['', undefined],
    ['12abc', '12abc'],
  ])('reads the cell %j as %j', (cell, value) => {
    expect(labelValueOf(cell)).toBe(value);
  });

  it('labels images from labels.csv, with face boxes, and reports rows without an image', async () => {
    const jpeg = await pictureJpeg(64, 64, 3);
    const root = await fixture({
      'a.jpg': jpeg,
      'nested/b.png': jpeg,
      'c.webp': jpeg,
      'notes.txt': 'ignored',
      'labels.csv': 'file,smile,mood,face_x,face_y,face_width,face_height\na.jpg,true,happy,10,10,30,30\n./nested/b.png,false,,0,0,64,64\ngone.jpg,true,sad,1,1,5,5\n',
    });
    const catalog = await readFolderCatalog(root);
    expect(catalog.items.map(({ id, labels, box }) => ({ id, labels, box }))).toEqual([
      { id: 'a.jpg', labels: { smile: true, mood: 'happy' }, box: { x: 10, y: 10, width: 30, height: 30 } },
      { id: 'c.webp', labels: {}, box: undefined },
      { id: 'nested/b.png', labels: { smile: false }, box: { x: 0, y: 0, width: 64, height: 64 } },
    ]);
    expect(catalog.labels).toEqual({ smile: 'any', mood: 'any' });
    expect(catalog.boxes).toMatch(/face_x, face_y, face_width, face_height/);
    expect(catalog.skipped).toEqual([{ file: 'gone.jpg', reason: 'listed in labels.csv but not an image file in the folder' }]);
  });

  it('takes every image without labels when there is no labels.csv, and needs a file column when there is one', async () => {
    const jpeg = await pictureJpeg(64, 64, 3);
    const bare = await readFolderCatalog(await fixture({ 'x.JPG': jpeg, 'y.jpeg': jpeg }));
    expect(bare.items.map((item) => item.id)).toEqual(['x.JPG', 'y.jpeg']);
    expect(bare.labels).toEqual({});
    expect(bare.boxes).toBeUndefined();
    await expect(readFolderCatalog(await fixture({ 'x.jpg': jpeg, 'labels.csv': 'name,smile\nx.jpg,1\n' }))).rejects.toThrow(
      /labels\.csv needs a "file" column \(its columns: name, smile\)/,
    );
  });
});
