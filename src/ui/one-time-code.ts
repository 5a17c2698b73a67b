// One-time enrollment codes generated for the dashboard's Register form: 20 characters from an
// alphabet without look-alikes (no 0/o, 1/l/i), ~99 bits, in groups of four for reading aloud.
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const GROUPS = 5;
const GROUP_LENGTH = 4;

export function generateOneTimeCode(random: (length: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n))): string {
  const out: string[] = [];
  const limit = 256 - (256 % ALPHABET.length); // rejection sampling: no modulo bias
  while (out.length < GROUPS * GROUP_LENGTH) {
    for (const byte of random(32)) if (byte < limit && out.length < GROUPS * GROUP_LENGTH) out.push(ALPHABET[byte % ALPHABET.length]!);
  }
  const groups: string[] = [];
  for (let i = 0; i < GROUPS; i++) groups.push(out.slice(i * GROUP_LENGTH, (i + 1) * GROUP_LENGTH).join(''));
  return groups.join('-');
}
