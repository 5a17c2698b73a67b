// The malformed-input matrix run against every parse* function (STYLE: noble-hashes' approach).
// Each entry is something no parser in this project may accept as valid input.
export const MALFORMED_STRINGS: ReadonlyArray<readonly [string, string]> = [
  ['empty', ''],
  ['whitespace only', '   '],
  ['leading space', ' abcdef.0123456789abcdef'],
  ['trailing newline', 'abcdef.0123456789abcdef\n'],
  ['tab inside', 'abcdef.\t0123456789abcdef'],
  ['uppercase', 'ABCDEF.0123456789ABCDEF'],
  ['unicode lookalike', 'аbcdef.0123456789abcdef'], // Cyrillic а
  ['fullwidth digits', 'abcdef.０１２３456789abcdef'],
  ['zero width space', 'abcdef.0123456789abcd\u200bef'],
  ['NUL byte', 'abcdef.0123456789abcde\u0000'],
  ['too long', 'a'.repeat(70_000)],
  ['missing parts', 'abcdef.'],
  ['missing id', '.0123456789abcdef'],
  ['wrong alphabet', 'abc_ef.0123456789abcdef'],
  ['short secret', 'abcdef.0123456789abcde'],
  ['long secret', 'abcdef.0123456789abcdef0'],
];

export const NON_STRINGS: ReadonlyArray<readonly [string, unknown]> = [
  ['undefined', undefined],
  ['null', null],
  ['number', 42],
  ['object', { token: 'abcdef.0123456789abcdef' }],
  ['array', ['abcdef.0123456789abcdef']],
  ['boolean', true],
];
