// Times the reference (npm tokenizers@0.23.2, Rust through its Node binding) on the texts that
// bench_tokenizer dumps (CTT_TOKENIZER_BENCH_DUMP), paragraph by paragraph, one at a time.
const { Tokenizer } = require('tokenizers');
const fs = require('fs');
const dump = process.argv[2], data = process.argv[3];
(async () => {
  for (const tok of ['gpt2', 'llama3', 'qwen3', 'llama2', 'bert_base_uncased', 'trained_wordpiece', 'trained_unigram_t5']) {
    const t = Tokenizer.fromFile(`${data}/${tok}/tokenizer.json`);
    for (const text of ['english', 'code', 'chinese']) {
      const paras = fs.readFileSync(`${dump}/${text}.txt`, 'utf8').split('\x1e').filter(p => p.length);
      const bytes = paras.reduce((a, p) => a + Buffer.byteLength(p), 0);
      for (const p of paras) await t.encode(p, null, { addSpecialTokens: true }); // warm caches
      let best = Infinity;
      for (let r = 0; r < 3; ++r) {
        const t0 = process.hrtime.bigint();
        for (const p of paras) await t.encode(p, null, { addSpecialTokens: true });
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        best = Math.min(best, s);
      }
      let bestBatch = Infinity;
      for (let r = 0; r < 3; ++r) {
        const t0 = process.hrtime.bigint();
        await t.encodeBatch(paras, { addSpecialTokens: true });
        bestBatch = Math.min(bestBatch, Number(process.hrtime.bigint() - t0) / 1e9);
      }
      console.log(`reference encode/${tok}/${text}: ${(bytes / 1e6 / best).toFixed(2)} MB/s one call a paragraph, ${(bytes / 1e6 / bestBatch).toFixed(2)} MB/s encodeBatch`);
    }
  }
})();
