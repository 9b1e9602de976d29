/**
 * Models chosen from the user's disk in the page: the worker reads them through blobSource.
 * Here Blobs made from the bundled model's files must load to the same weights as the folder.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../src/cli/fs-source';
import { blobSource, filesByName } from '../src/engine/model/blob-source';
import { loadModel } from '../src/engine/model/load';
import { REPO_ROOT } from './support/paths';

const DIR = path.join(REPO_ROOT, 'public/models/stories260K');
const NAMES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
const fileLike = (name: string) => Object.assign(new Blob([readFileSync(path.join(DIR, name))]), { name });

describe('blobSource (models from the disk in the page)', () => {
  it('loads the same model as the folder, streaming the weights with progress', async () => {
    const seen: number[] = [];
    const fromBlobs = await loadModel('local files', blobSource('local files', filesByName(NAMES.map(fileLike))), {
      onProgress: (p) => p.file === 'model.safetensors' && seen.push(p.loaded),
    });
    const fromDir = await loadModel('stories260K', dirSource(DIR));
    expect(fromBlobs.parameters).toBe(fromDir.parameters);
    expect(fromBlobs.weightBytes).toBe(fromDir.weightBytes);
    expect(Array.from(fromBlobs.weights.layers[2]!.q.data)).toEqual(Array.from(fromDir.weights.layers[2]!.q.data));
    expect(fromBlobs.tokenizer.encode('Once upon a time')).toEqual(fromDir.tokenizer.encode('Once upon a time'));
    expect(seen.at(-1)).toBe(readFileSync(path.join(DIR, 'model.safetensors')).byteLength);
  });

  it('names a missing file and refuses two files of the same name', async () => {
    const src = blobSource('my-model', filesByName(['config.json', 'tokenizer.json'].map(fileLike)));
    await expect(loadModel('my-model', src)).rejects.toThrow(/my-model\/model.safetensors: not among the chosen files/);
    expect(() => filesByName([fileLike('config.json'), fileLike('config.json')])).toThrow(/two chosen files are named "config.json"/);
  });
});
