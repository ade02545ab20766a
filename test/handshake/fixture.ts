import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join, dirname } from 'node:path'

/** Repo root, found upwards from the compiled test file. */
export function repoPath(...parts: string[]): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    try {
      readFileSync(join(dir, 'package.json'))
      return join(dir, ...parts)
    } catch {
      dir = dirname(dir)
    }
  }
  throw new Error('repo root not found')
}

export interface SpecVectors {
  [k: string]: string | number
}

export function specVectors(): Record<string, string> & { server_time: number } {
  return JSON.parse(readFileSync(repoPath('test', 'handshake', 'fixtures', 'spec-vectors.json'), 'utf8'))
}

export const hex = (s: string | number): Buffer => Buffer.from(String(s), 'hex')
