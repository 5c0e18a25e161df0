import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { canonicalJson, digestOf, sha256Hex } from '../src/index';

describe('canonicalJson (RFC 8785)', () => {
  test('sorts keys at every level and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  test('orders keys by UTF-16 code units, not code points (RFC 8785 section 3.2.3 example)', () => {
    const value = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    const order = canonicalJson(value)
      .match(/"(?:[^"\\]|\\.)*":/g)!
      .map((k) => JSON.parse(k.slice(0, -1)) as string);
    expect(order).toEqual(['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']);
  });

  test('matches the RFC 8785 section 3.2.2 example byte for byte', () => {
    const input = String.raw`{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}`;
    expect(canonicalJson(JSON.parse(input))).toBe(
      String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
    );
  });

  test('writes numbers as RFC 8785 appendix B requires', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [-0, '0'],
      [5e-324, '5e-324'],
      [-5e-324, '-5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [9007199254740992, '9007199254740992'],
      [9.999999999999997e22, '9.999999999999997e+22'],
      [1e23, '1e+23'],
      [0.000001, '0.000001'],
      [9.999999999999997e-7, '9.999999999999997e-7'],
      [333333333.3333333, '333333333.3333333'],
    ];
    for (const [value, text] of cases) expect(canonicalJson(value)).toBe(text);
    expect(canonicalJson({ x: -0 })).toBe('{"x":0}');
  });

  test('keeps unicode in strings literally and escapes only what JSON requires', () => {
    expect(canonicalJson({ ключ: 'héllo 😀', tab: '\t', nul: '\u0000' })).toBe('{"nul":"\\u0000","tab":"\\t","ключ":"héllo 😀"}');
  });

  test('rejects values with no JSON form, naming where they are', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(/NaN at the top level/);
    expect(() => canonicalJson({ a: [1, Infinity] })).toThrow(/Infinity at "a.1"/);
    expect(() => canonicalJson({ a: -Infinity })).toThrow(/-Infinity/);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(/function at "f"/);
    expect(() => canonicalJson(Symbol('s'))).toThrow(/symbol/);
    expect(() => canonicalJson(10n)).toThrow(/bigint/);
    expect(() => canonicalJson(undefined)).toThrow(/undefined/);
    expect(() => canonicalJson([undefined])).toThrow(/undefined at "0"/);
    expect(() => canonicalJson({ when: new Date(0) })).toThrow(/Date at "when".*ISO string/);
    expect(() => canonicalJson(new Map())).toThrow(/Map/);
    expect(() => canonicalJson(new Uint8Array(2))).toThrow(/Uint8Array/);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cycle/);
  });

  test('drops undefined object members, accepts null-prototype objects and shared (non-cyclic) references', () => {
    const shared = { v: 1 };
    const bare = Object.assign(Object.create(null) as object, { b: 2, a: 1 });
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson(bare)).toBe('{"a":1,"b":2}');
    expect(canonicalJson([shared, shared])).toBe('[{"v":1},{"v":1}]');
  });

  test('property: same value, same text, whatever the key insertion order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.string({ unit: 'binary' }), fc.jsonValue()), { selector: ([k]) => k, maxLength: 8 }),
        fc.infiniteStream(fc.nat()),
        (entries, randoms) => {
          const shuffled = entries
            .map((e) => [randoms.next().value as number, e] as const)
            .sort((x, y) => x[0] - y[0])
            .map(([, e]) => e);
          const build = (list: (readonly [string, unknown])[]) => {
            const o: Record<string, unknown> = {};
            for (const [k, v] of list) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
            return o;
          };
          expect(canonicalJson(build(shuffled))).toBe(canonicalJson(build(entries)));
          expect(digestOf(build(shuffled))).toBe(digestOf(build(entries)));
        },
      ),
    );
  });

  test('property: the text parses back to the value (as JSON sees it) and is a fixed point', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(text).toBe(canonicalJson(structuredClone(value)));
      }),
    );
  });

  test('property: no whitespace outside strings', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const outsideStrings = canonicalJson(value).replace(/"(?:[^"\\]|\\.)*"/g, '""');
        expect(outsideStrings).not.toMatch(/\s/);
      }),
    );
  });
});

describe('sha256Hex and digestOf', () => {
  test('match the FIPS 180-2 test vectors', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex(new Uint8Array([0x61, 0x62, 0x63]))).toBe(sha256Hex('abc'));
  });

  test('digestOf hashes the canonical text, so key order does not change it but values do', () => {
    expect(digestOf({ b: 1, a: [1, 2] })).toBe(sha256Hex('{"a":[1,2],"b":1}'));
    expect(digestOf({ a: [1, 2], b: 1 })).toBe(digestOf({ b: 1, a: [1, 2] }));
    expect(digestOf({ a: [2, 1], b: 1 })).not.toBe(digestOf({ a: [1, 2], b: 1 }));
  });
});
