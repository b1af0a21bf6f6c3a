// Adds the reference's cases.jsonl (npm tokenizers@0.23.2) to each folder synthetic_cases.py wrote:
//   node synthetic_cases.js <dir>
const dir = process.argv[2];
const { Tokenizer } = require('tokenizers'); const fs = require('fs');
const texts = ['Hello, world! 123 abc-def', 'Ελληνικά и русский 中文かなカナ한국어 العربية', 'x1y22z333 4.5  six  ', 'ﬁ ① ǅ Å É ñ  trailing   ', 'a-b--c- -d', 'caffè latte; déjà vu!', "it's 2024-01-02T10:00 ok", '日本語のテキストーです。', ' lead  and   gaps ', 'नमस्ते ไทย ລາວ ខ្មែរ ᠮᠣᠩᠭᠣᠯ ꦗꦮ', '🙂 emoji 👍🏽 mixed123abc', 'hello</w> world</w> hello</w>', 'hheel<pad>llo|wwo|<pad>d', '▁hi ▁▁there ▁hi', 'go ##ing ##s ? hi . do not n\'t \'s it', 'x [MASK] y ab Ab xab <sep>  z', '[MASK]ab [MASK]  <sep>ab'];
(async () => { for (const name of fs.readdirSync(dir)) { const t = Tokenizer.fromFile(`${dir}/${name}/tokenizer.json`); const lines = [];
  for (const text of texts) { const e = await t.encode(text, null, { addSpecialTokens: false }); const ids = e.getIds();
    lines.push(JSON.stringify({ text, add_special_tokens: false, ids, tokens: e.getTokens(), offsets: e.getOffsets(), decoded: await t.decode(ids, false), decoded_skip: await t.decode(ids, true) })); }
  fs.writeFileSync(`${dir}/${name}/cases.jsonl`, lines.join('\n') + '\n'); } })();
