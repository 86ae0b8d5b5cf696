// Identifiers: 64-hex ids like Docker's, and Docker-style random names.

const ADJECTIVES = [
  'brave', 'calm', 'eager', 'fancy', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry',
  'nifty', 'proud', 'quiet', 'rapid', 'sharp', 'steady', 'sunny', 'tidy', 'vivid', 'witty',
];
const NOUNS = [
  'anchor', 'beacon', 'buoy', 'cabin', 'cargo', 'compass', 'dock', 'ferry', 'harbor', 'hull',
  'keel', 'lantern', 'mast', 'pier', 'quay', 'rudder', 'sail', 'skiff', 'tide', 'wharf',
];

/** A random 64-hex-digit id (256 bits), from a caller-supplied source of random bytes. */
export function hexId(randomBytes: (n: number) => Uint8Array): string {
  return Array.from(randomBytes(32), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function randomName(random: () => number): string {
  const pick = (list: string[]) => list[Math.floor(random() * list.length)];
  return `${pick(ADJECTIVES)}_${pick(NOUNS)}`;
}

/** Docker's rule for container names (without the leading slash). */
export const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);
