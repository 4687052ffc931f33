// Output masking for brokered exec (docs/SECURITY.md, "Brokered exec"): every injected value,
// and its common encodings, is replaced with <masked:KEY> in the child's stdout and stderr.
// Streaming: a value split across reads is still masked, and only a tail that could still
// become a match is held back (a prompt without a newline appears at once unless it ends in
// the beginning of an encoded value). Accident-proofing, not a boundary: a program that
// transforms a value (reverses, encrypts, splits it) defeats it.
//
// Matching is one pass over the bytes with an Aho-Corasick automaton of every form of every
// value (docs/PERFORMANCE.md, "Brokered exec"): the cost per byte does not grow with the number
// of secrets. The replacement: at each point of the text, the occurrence that covers it and
// begins leftmost (the longest of those) becomes its placeholder; an occurrence overlapping one
// already replaced has its remaining bytes replaced too, so no byte of any occurrence of any
// form is ever released (masker.test.ts checks this against a naive scan).

/**
 * Values shorter than this are not masked: masking `test` or `1234` everywhere shreds ordinary
 * output (GitHub Actions' lesson), and a short value is guessable anyway. Eight bytes is the
 * usual floor for a password or key; the agent warns by name when a shorter one is injected.
 */
export const MIN_MASK_BYTES = 8;

/** The base64 characters that depend only on `v`, when v starts `k` bytes into a larger blob. */
function base64Core(v: Buffer, k: number): string {
  const enc = Buffer.concat([Buffer.alloc(k), v]).toString('base64');
  const first = Math.ceil((8 * k) / 6);
  const last = Math.floor((8 * (k + v.length)) / 6); // exclusive: the first char that mixes in later bytes
  return enc.slice(first, last);
}

const toUrl = (s: string) => s.replace(/\+/g, '-').replace(/\//g, '_');

/** JSON string escaping as ASCII-only encoders write it (Python's json.dumps default): \uXXXX for non-ASCII. */
const jsonAscii = (text: string) =>
  JSON.stringify(text)
    .slice(1, -1)
    .replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** Every form of one value the masker looks for (deduplicated, each at least MIN_MASK_BYTES long). */
export function encodingsOf(value: Buffer): string[] {
  const forms = new Set<string>();
  const add = (s: string) => {
    if (Buffer.byteLength(s, 'latin1') >= MIN_MASK_BYTES) forms.add(s);
  };
  const addValue = (v: Buffer) => {
    const text = v.toString('utf8');
    add(v.toString('latin1'));
    add(v.toString('hex'));
    add(v.toString('hex').toUpperCase());
    const b64 = v.toString('base64');
    for (const s of [b64, b64.replace(/=+$/, '')]) {
      add(s);
      add(toUrl(s));
    }
    for (let k = 0; k < 3; k++) {
      const core = base64Core(v, k);
      add(core);
      add(toUrl(core));
    }
    const uri = encodeURIComponent(text);
    add(uri);
    add(uri.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
    add(uri.replace(/%20/g, '+'));
    add(Buffer.from(JSON.stringify(text).slice(1, -1), 'utf8').toString('latin1'));
    add(jsonAscii(text));
    add(jsonAscii(text).replace(/\\u[0-9a-f]{4}/g, (m) => m.toUpperCase().replace('\\U', '\\u')));
  };
  addValue(value);
  // A multiline value is masked as a whole and line by line.
  const text = value.toString('utf8');
  if (/[\r\n]/.test(text)) for (const line of text.split(/\r?\n/)) addValue(Buffer.from(line, 'utf8'));
  return [...forms];
}

/** States of the automaton up to this depth get a full transition row (one lookup per byte). */
const DENSE_DEPTH = 64;
/** Stretches at least this long are run as two interleaved lanes (Automaton.run). */
const TWO_LANES_MIN = 2048;
/** At most this many transition-table entries (4 bytes each): beyond it, deeper states stay sparse. */
const MAX_DENSE_ENTRIES = 1 << 21;
/** Stretches at least this long go to the addon's maskScan (shorter ones cost less than the call). */
const NATIVE_MIN = 256;
/** The addon's 4-gram filter (maskScan in tvault_native.c): a bitmap of this many bits... */
const GRAM_BITS = 17;
/** ...valid when every pattern, and every state that stops the scan, is at least this long. */
const GRAM_MIN = 7;

/** The 4 bytes at p[o..o+4) hashed as maskScan hashes them (little-endian, one multiply, the top GRAM_BITS bits). */
const gramHash = (p: Uint8Array, o: number) => Math.imul(p[o] | (p[o + 1] << 8) | (p[o + 2] << 16) | (p[o + 3] << 24), 0x9e3779b1) >>> (32 - GRAM_BITS);

type Scan = typeof import('@tvault/native').maskScan;
let scanFn: Scan | null | undefined;
/**
 * The addon's maskScan (the same loop in C, four lanes, every index checked), loaded on first
 * use; null where the addon cannot be loaded or predates it (then the loop below runs in JS,
 * with the same answers: masker.test.ts checks both). TVAULT_MASK_JS=1 forces the JS loop.
 */
function nativeScan(): Scan | null {
  if (scanFn === undefined) {
    try {
      scanFn = process.env.TVAULT_MASK_JS === '1' ? null : ((require('@tvault/native') as typeof import('@tvault/native')).maskScan ?? null);
    } catch {
      scanFn = null;
    }
  }
  return scanFn;
}

/**
 * The Aho-Corasick automaton of a set of byte patterns. States are numbered breadth-first, so a
 * state's failure link is always a smaller number; the first `dense` states (the shallow ones,
 * where ordinary text spends its time) have a full row of transitions over byte classes, the
 * deeper ones (reached only while the text follows a long stretch of a pattern) keep their
 * trie edges and fall back along failure links to a dense state.
 */
class Automaton {
  /** The byte's class: 0 for bytes no pattern contains, else 1..classes-1. */
  readonly cls = new Uint8Array(256);
  readonly classes: number;
  readonly dense: number;
  /**
   * Dense transitions, indexed state * classes + class. An entry is the target's row offset
   * (target * classes), or, when the target ends a pattern or is a deep state, -1 - target:
   * the hot loop's single test for "something to do".
   */
  readonly delta: Int32Array;
  /**
   * The trie's edges, breadth-first: the children of state s are the states kidStart[s] to
   * kidStart[s + 1] - 1 (consecutive, since s's children are numbered when s is reached), and
   * state t's edge from its parent is on class edgeCls[t]. Used for the deep states.
   */
  private readonly kidStart: Int32Array;
  private readonly edgeCls: Uint8Array;
  readonly fail: Int32Array;
  /** Non-zero when some pattern ends at this state (the hot loop's only test). */
  readonly outLen: Int32Array;
  /** The pattern this very state ends (-1: none), and the state's depth (that pattern's length). */
  readonly own: Int32Array;
  readonly depth: Int32Array;
  /** The next state along the failure links that ends a pattern (0: none). */
  readonly dict: Int32Array;
  /** The depth of the longest suffix of this state that a pattern continues (what to hold back). */
  readonly live: Int32Array;

  constructor(patterns: readonly Buffer[]) {
    let classes = 1;
    let bytes = 0;
    for (const p of patterns) {
      bytes += p.length;
      for (const b of p) if (!this.cls[b]) this.cls[b] = classes++;
    }
    this.classes = classes;
    // The trie in insertion order, in flat arrays (no object per state: building it is on the
    // way to every brokered child's start): each state's first child, its next sibling, the
    // class of the edge into it, and the pattern it ends.
    const cap = bytes + 1;
    const first = new Int32Array(cap).fill(-1);
    const next = new Int32Array(cap).fill(-1);
    const ecls = new Uint8Array(cap);
    const term = new Int32Array(cap).fill(-1);
    let n = 1;
    patterns.forEach((p, i) => {
      let s = 0;
      for (const b of p) {
        const c = this.cls[b];
        let t = first[s];
        while (t >= 0 && ecls[t] !== c) t = next[t];
        if (t < 0) {
          t = n++;
          ecls[t] = c;
          next[t] = first[s];
          first[s] = t;
        }
        s = t;
      }
      if (term[s] < 0) term[s] = i;
    });
    // Renumber breadth-first: order[k] is the trie state that becomes state k.
    const order = new Int32Array(n);
    const depth = new Int32Array(n);
    const kidStart = new Int32Array(n + 1);
    const edgeCls = new Uint8Array(n);
    let tail = 1;
    for (let h = 0; h < n; h++) {
      kidStart[h] = tail;
      for (let t = first[order[h]]; t >= 0; t = next[t]) {
        order[tail] = t;
        edgeCls[tail] = ecls[t];
        depth[tail++] = depth[h] + 1;
      }
    }
    kidStart[n] = tail;
    this.kidStart = kidStart;
    this.edgeCls = edgeCls;
    this.depth = depth;
    this.fail = new Int32Array(n);
    this.outLen = new Int32Array(n);
    this.own = new Int32Array(n).fill(-1);
    this.dict = new Int32Array(n);
    this.live = new Int32Array(n);
    let dense = 0;
    while (dense < n && depth[dense] <= DENSE_DEPTH && (dense + 1) * classes <= MAX_DENSE_ENTRIES) dense++;
    this.dense = Math.max(1, dense);
    // One pass, breadth-first (a failure link is always a smaller, finished state, and every
    // state of a smaller depth is finished before a state's children are linked): each child's
    // failure link is the step of its parent's failure link on the child's class, and what it
    // outputs follows from that link; then the state's dense row is a copy of its failure link's
    // finished row (the root's: all to the root) with its own trie edges written over it. An
    // entry is the target's row offset, or -1 - target when the target ends a pattern or is deep.
    const delta = (this.delta = new Int32Array(this.dense * classes));
    const { fail, own, dict, outLen, live } = this;
    const denseN = this.dense;
    for (let s = 0; s < n; s++) {
      const f = fail[s];
      const k0 = kidStart[s];
      const k1 = kidStart[s + 1];
      for (let t = k0; t < k1; t++) {
        const g = s === 0 ? 0 : this.step(f, edgeCls[t]);
        const pat = term[order[t]];
        fail[t] = g;
        own[t] = pat;
        dict[t] = own[g] >= 0 ? g : dict[g];
        outLen[t] = pat >= 0 ? depth[t] : outLen[g];
        live[t] = kidStart[t + 1] > kidStart[t] ? depth[t] : live[g];
      }
      if (s >= denseN) continue;
      const row = s * classes;
      if (s > 0) delta.copyWithin(row, f * classes, f * classes + classes);
      for (let t = k0; t < k1; t++) delta[row + edgeCls[t]] = t >= denseN || outLen[t] ? -1 - t : t * classes;
    }
    // The filter, when its premise holds (MaskSet's patterns are all MIN_MASK_BYTES or longer).
    if (patterns.every((p) => p.length >= GRAM_MIN) && (denseN === n || depth[denseN] >= GRAM_MIN) && DENSE_DEPTH < 256) {
      const grams = new Uint8Array(1 << (GRAM_BITS - 3));
      for (const p of patterns)
        for (let o = 0; o < 4; o++) {
          const h = gramHash(p, o);
          grams[h >>> 3] |= 1 << (h & 7);
        }
      this.grams = grams;
      this.depth8 = Uint8Array.from(depth.subarray(0, denseN));
    }
  }

  /** The child of s on class c, or -1. */
  private child(s: number, c: number): number {
    const { kidStart, edgeCls } = this;
    for (let t = kidStart[s], end = kidStart[s + 1]; t < end; t++) if (edgeCls[t] === c) return t;
    return -1;
  }

  /** The transition from any state (dense or deep) on a byte class, as a state number. */
  step(s: number, c: number): number {
    for (;;) {
      if (s < this.dense) {
        const e = this.delta[s * this.classes + c];
        return e < 0 ? -1 - e : e / this.classes;
      }
      const t = this.child(s, c);
      if (t >= 0) return t;
      s = this.fail[s];
    }
  }

  /**
   * The addon's filter (undefined when it does not apply): a bitmap of every pattern's 4-grams at
   * offsets 0 to 3, and each dense state's depth. Where no 4-gram at a multiple of 4 is in the
   * bitmap, no pattern can be under way, so maskScan skips those bytes (exactly: see there).
   */
  readonly grams?: Uint8Array;
  readonly depth8?: Uint8Array;

  /** The state reached by the last run(): where it stopped. */
  last = 0;

  /**
   * Runs the dense part of the automaton over buf from i, starting in (dense) state s, up to the
   * first byte that reaches a state that ends a pattern or is deep. Returns that byte's index
   * (or buf.length) and leaves the state reached in `last`.
   *
   * A long stretch is run as two lanes at once, its halves interleaved in one loop: each byte's
   * step waits on the previous step's table load, so one lane leaves the CPU idle most of the
   * time, and a second, independent chain of loads fills it. The second half's starting state
   * is rebuilt from the root over the longest pattern's length of bytes before it (a state is
   * the longest suffix of the text that begins a pattern, never longer than that). The answer is
   * exactly the one lane's.
   */
  run(buf: Uint8Array, i: number, s: number): number {
    const n = buf.length;
    const warm = this.depth[this.depth.length - 1]; // breadth-first: the last state is the deepest
    const scan = nativeScan();
    if (scan && n - i >= NATIVE_MIN) {
      const k = scan(this.delta, this.cls, this.dense, this.classes, warm, buf, i, s, this.out, this.grams, this.depth8);
      this.last = this.out[0];
      return k;
    }
    if (n - i < Math.max(TWO_LANES_MIN, 16 * warm)) return this.lane(buf, i, s, n);
    const { cls, delta, classes } = this;
    const mid = (i + n) >>> 1;
    let sb = 0;
    for (let k = mid - warm; k < mid; k++) sb = this.step(sb, cls[buf[k]]);
    if (sb >= this.dense) return this.lane(buf, i, s, n);
    let pa = s * classes;
    let pb = sb * classes;
    let ia = i;
    let ib = mid;
    for (; ia < mid; ia++, ib++) {
      const ea = delta[pa + cls[buf[ia]]];
      const eb = delta[pb + cls[buf[ib]]];
      if ((ea | eb) < 0) break;
      pa = ea;
      pb = eb;
    }
    if (ia < mid) {
      // A lane stopped: the first half alone, exactly, up to the middle, then the second from where it was.
      const k = this.lane(buf, ia, pa / classes, mid);
      if (k < mid) return k;
    }
    return this.lane(buf, ib, pb / classes, n);
  }

  /** maskScan's answer slot (the state reached). */
  private readonly out = new Int32Array(1);

  /** One lane of run(), from i up to end. */
  private lane(buf: Uint8Array, i: number, s: number, end: number): number {
    const { cls, delta, classes } = this;
    let p = s * classes;
    for (; i < end; i++) {
      const e = delta[p + cls[buf[i]]];
      if (e < 0) {
        this.last = -1 - e;
        return i;
      }
      p = e;
    }
    this.last = p / classes;
    return end;
  }
}

const EMPTY = Buffer.alloc(0);

interface Occurrence {
  start: number;
  end: number;
  key: number;
}

/** The patterns of a set of secrets, compiled once and shared by the maskers of one child. */
export class MaskSet {
  readonly automaton: Automaton | null;
  /** The key name of each pattern. */
  readonly keys: string[];
  /** The placeholder of each key name, as bytes. */
  readonly placeholders: Buffer[];

  constructor(secrets: ReadonlyArray<{ name: string; value: Buffer }>) {
    const byForm = new Map<string, string>();
    for (const s of secrets) for (const f of encodingsOf(s.value)) if (!byForm.has(f)) byForm.set(f, s.name);
    const forms = [...byForm];
    this.keys = forms.map(([, key]) => key);
    this.placeholders = this.keys.map((k) => Buffer.from(`<masked:${k}>`));
    this.automaton = forms.length ? new Automaton(forms.map(([f]) => Buffer.from(f, 'latin1'))) : null;
  }
}

/** One output stream's masker: push chunks in, get masked chunks out, end() flushes the rest. */
export class Masker {
  private readonly set: MaskSet;
  /** The automaton's state after the last byte pushed. */
  private state = 0;
  /** Stream offset of held[0]; everything before it has been released. */
  private base = 0;
  private held: Buffer = EMPTY;
  /** The chunk being pushed, and its stream offset (right after the held-back tail). */
  private chunk: Buffer = EMPTY;
  private cbase = 0;
  /** Found, not yet decided (a longer or more leftward match may still come). */
  private occ: Occurrence[] = [];
  /** The end of the last replaced match: occurrences that end before it are inside it. */
  private boundary = 0;

  /** A masker for these secrets, or for an already compiled set (shared by stdout and stderr). */
  constructor(secrets: ReadonlyArray<{ name: string; value: Buffer }> | MaskSet) {
    this.set = secrets instanceof MaskSet ? secrets : new MaskSet(secrets);
  }

  /** The names of the values that are too short to be masked. */
  static unmasked(secrets: ReadonlyArray<{ name: string; value: Buffer }>): string[] {
    return secrets.filter((s) => s.value.length > 0 && s.value.length < MIN_MASK_BYTES).map((s) => s.name);
  }

  /** How many bytes are held back because they may still become part of a match. */
  get pending(): number {
    return this.held.length;
  }

  /** The masked output of chunk, as a fresh buffer (the caller may zero chunk as soon as this returns). */
  push(chunk: Buffer): Buffer {
    return Buffer.concat(this.pushv(chunk));
  }

  /**
   * The masked output of chunk as a list of pieces: views of chunk itself (no copy), the
   * placeholders (shared: never to be written into), and copies of what was held back. The
   * views are valid as long as chunk's bytes are: the caller must not reuse or zero chunk
   * until they are written. What is held back is copied out of chunk, and zeroed when released.
   */
  pushv(chunk: Buffer): Buffer[] {
    const a = this.set.automaton;
    const out: Buffer[] = [];
    if (!a) {
      this.base += chunk.length;
      if (chunk.length) out.push(chunk);
      return out;
    }
    this.chunk = chunk;
    const cbase = (this.cbase = this.base + this.held.length);
    let released = this.base;
    let s = this.state;
    for (let i = 0; i < chunk.length; i++) {
      if (s < a.dense) {
        i = a.run(chunk, i, s);
        s = a.last;
        if (i === chunk.length) break;
      } else s = a.step(s, a.cls[chunk[i]]);
      // Rare: a pattern ends here, or the text follows a long stretch of one (a deep state).
      if (a.outLen[s]) {
        this.found(s, cbase + i + 1);
        if (this.occ.length > 256) released = this.resolve(out, released, cbase + i + 1 - a.live[s]);
      }
    }
    this.state = s;
    released = this.resolve(out, released, cbase + chunk.length - a.live[s]);
    this.hold(released);
    return out;
  }

  end(): Buffer {
    const out: Buffer[] = [];
    this.chunk = EMPTY;
    this.cbase = this.base + this.held.length;
    const released = this.resolve(out, this.base, Infinity);
    this.piece(out, released, this.cbase);
    this.hold(this.cbase);
    this.state = 0;
    return Buffer.concat(out);
  }

  /** Keeps the stream from `from` to the end of the current chunk as the new held-back tail (a copy); the old one is zeroed. */
  private hold(from: number): void {
    const end = this.cbase + this.chunk.length;
    const next = end > from ? Buffer.allocUnsafe(end - from) : EMPTY;
    if (next.length) {
      const pieces: Buffer[] = [];
      this.piece(pieces, from, end, false);
      let at = 0;
      for (const p of pieces) at += p.copy(next, at);
    }
    this.held.fill(0);
    this.held = next;
    this.base = from;
    this.chunk = EMPTY;
  }

  /**
   * Appends the stream's bytes [from, to) to out: a copy of the held-back part (the held buffer
   * is zeroed when it is replaced), a view of the chunk's.
   */
  private piece(out: Buffer[], from: number, to: number, copyHeld = true): void {
    const h = Math.min(to, this.cbase);
    if (from < h) {
      const v = this.held.subarray(from - this.base, h - this.base);
      out.push(copyHeld ? Buffer.from(v) : v);
    }
    const c = Math.max(from, this.cbase);
    if (c < to) out.push(this.chunk.subarray(c - this.cbase, to - this.cbase));
  }

  /** Records every pattern that ends at stream offset `end` (the state's whole output chain). */
  private found(s: number, end: number): void {
    const a = this.set.automaton!;
    for (let t = a.own[s] >= 0 ? s : a.dict[s]; t; t = a.dict[t]) {
      if (end > this.boundary) this.occ.push({ start: end - a.depth[t], end, key: a.own[t] });
    }
  }

  /**
   * Decides every occurrence that begins before `safe` (no match can begin there any more) and
   * releases the text before `safe` (or the end of the last match), appending it to `out`.
   * The stream is the held-back tail (from this.base) and then the chunk (from this.cbase);
   * returns the new released offset.
   */
  private resolve(out: Buffer[], released: number, safe: number): number {
    if (this.occ.length) {
      this.occ.sort((x, y) => x.start - y.start || y.end - x.end);
      let k = 0;
      for (; k < this.occ.length; k++) {
        const o = this.occ[k];
        if (o.end <= this.boundary) continue;
        if (o.start >= safe) break;
        // An occurrence that overlaps the last match masks the rest of itself too: no byte of any
        // occurrence is released (two overlapping values come out as two placeholders).
        this.piece(out, released, Math.max(o.start, released));
        out.push(this.set.placeholders[o.key]);
        released = this.boundary = o.end;
      }
      this.occ = this.occ.slice(k).filter((o) => o.end > this.boundary);
    }
    const upTo = Math.min(safe, this.cbase + this.chunk.length);
    if (upTo > released) {
      this.piece(out, released, upTo);
      released = upTo;
    }
    return released;
  }
}
