// Held-out tokenizer cases: what the reference (npm tokenizers@0.23.2, HF's Rust library through
// its Node binding) makes of texts that are not in tests/data/tokenizers, in the same format, for
// -DCTT_EXTRA_TOKENIZER_CASES. Run from a scratch directory where the package is installed:
//   node held_out_cases.js <repo>/tests/data/tokenizers/A <out>/H
// Texts: lines of the repository's own files, a few scripts and emoji, and random code points.
const { Tokenizer } = require('tokenizers');
const fs = require('fs');
const path = require('path');
const repo = path.resolve(__dirname, '..', '..');
const src = process.argv[2], out = process.argv[3];
function rng(seed) { let s = seed >>> 0; return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 4294967296; }; }
const r = rng(1234);
const texts = [];
const corpus = [fs.readFileSync(path.join(repo, 'README.md'), 'utf8'), fs.readFileSync(path.join(repo, 'src/text/components.cpp'), 'utf8'),
  fs.readFileSync(path.join(repo, 'include/ctt/text/tokenizer.hpp'), 'utf8')];
for (const c of corpus) { const lines = c.split('\n'); for (let i = 0; i < 40; ++i) { const a = Math.floor(r() * lines.length); texts.push(lines.slice(a, a + 1 + Math.floor(r() * 4)).join('\n')); } }
const extra = ['北京是中华人民共和国的首都，也是全国的政治中心。', '東京都は日本の首都です。カタカナとひらがな。', 'مرحبا بالعالم، هذا نص عربي.', 'שלום עולם', 'Привет, мир! Ёлка.',
  'Ελληνικά γράμματα ΣΊΣΥΦΟΣ', '한국어 텍스트입니다', '👩‍👩‍👧‍👦 family 🇫🇷 flag 👍🏽', 'x = a**2 + b[3]; // comment\n\tif (x) {\n\t\treturn;\n\t}', '    four spaces   and\ttabs\t\there  ',
  "I'M SHOUTING, DON'T YOU'LL WE'VE", 'numbers 1234567890 3.14159 -42 1e10 0xFF', 'İstanbul ǅ ﬃ ẞ ß', 'नमस्ते दुनिया', 'ไทย ภาษา', 'a\u00a0b\u2003c\u3000d', 'end with newline\n\n', '<s> </s> <unk> [CLS] [SEP] <|endoftext|> <mask>'];
texts.push(...extra);
const blocks = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x600, 0x6ff], [0x900, 0x97f], [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0x1f300, 0x1f6ff], [0x300, 0x36f], [0x2000, 0x206f]];
for (let i = 0; i < 40; ++i) { let s = ''; const n = 1 + Math.floor(r() * 30); for (let k = 0; k < n; ++k) { const b = blocks[Math.floor(r() * blocks.length)]; s += r() < 0.15 ? ' ' : String.fromCodePoint(b[0] + Math.floor(r() * (b[1] - b[0] + 1))); } texts.push(s); }
(async () => {
  for (const name of fs.readdirSync(src)) {
    const dir = path.join(src, name); const tjson = path.join(dir, 'tokenizer.json'); if (!fs.existsSync(tjson)) continue;
    const tok = Tokenizer.fromFile(tjson);
    const od = path.join(out, name); fs.mkdirSync(od, { recursive: true }); fs.copyFileSync(tjson, path.join(od, 'tokenizer.json'));
    fs.writeFileSync(path.join(od, 'case.json'), JSON.stringify({ set: 'H', case: name }));
    const lines = [];
    for (const text of texts) for (const add of [true, false]) {
      const e = await tok.encode(text, null, { addSpecialTokens: add });
      const ids = e.getIds();
      lines.push(JSON.stringify({ text, add_special_tokens: add, ids, tokens: e.getTokens(), offsets: e.getOffsets(), decoded: await tok.decode(ids, false), decoded_skip: await tok.decode(ids, true) }).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029').replace(/\u0085/g, '\\u0085'));
    }
    fs.writeFileSync(path.join(od, 'cases.jsonl'), lines.join('\n') + '\n');
    console.log(name, lines.length);
  }
})();
