#!/usr/bin/env python3
"""Writes a LLaMA checkpoint directory (config.json + model.safetensors, as
ctt-random-checkpoint writes it) as GGUF with llama.cpp's own gguf-py, for llama-bench to run
the same weights as ctt's bench_e2e. Pure Python + numpy; the project never depends on it.

    PYTHONPATH=<llama.cpp>/gguf-py python3 safetensors_to_gguf.py <dir> <out.gguf> [f32|f16]

The vocabulary is a placeholder of `vocab_size` tokens (llama-bench feeds random ids). Q and K
rows are not permuted to GGUF's rotary layout: the weights are random, only the speed matters.
"""
import json
import struct
import sys

import numpy as np

try:
    import sentencepiece  # noqa: F401  (gguf-py's vocab module imports it; the writer does not use it)
except ImportError:
    import types
    sys.modules["sentencepiece"] = types.SimpleNamespace(SentencePieceProcessor=None)

import gguf  # noqa: E402

NAMES = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[begin:end]
        if info["dtype"] == "F32":
            t = raw.view(np.float32)
        elif info["dtype"] == "F16":
            t = raw.view(np.float16).astype(np.float32)
        elif info["dtype"] == "BF16":
            t = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"{name}: dtype {info['dtype']} not handled")
        out[name] = t.reshape(info["shape"])
    return out


def gguf_name(hf):
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    parts = hf.split(".")  # model.layers.<i>.<role...>.weight
    i, role = parts[2], ".".join(parts[3:-1])
    return f"blk.{i}.{NAMES[role]}.weight"


def main():
    directory, out_path = sys.argv[1], sys.argv[2]
    kind = sys.argv[3] if len(sys.argv) > 3 else "f32"
    config = json.load(open(f"{directory}/config.json"))
    assert config["model_type"] == "llama"
    tensors = read_safetensors(f"{directory}/model.safetensors")
    w = gguf.GGUFWriter(out_path, "llama")
    heads = config["num_attention_heads"]
    w.add_name(directory.rstrip("/").split("/")[-1])
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(config["hidden_size"])
    w.add_block_count(config["num_hidden_layers"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(config.get("num_key_value_heads", heads))
    w.add_rope_dimension_count(config["hidden_size"] // heads)
    w.add_rope_freq_base(config.get("rope_theta", 10000.0))
    w.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-5))
    w.add_file_type(gguf.LlamaFileType.ALL_F32 if kind == "f32" else gguf.LlamaFileType.MOSTLY_F16)
    vocab = config["vocab_size"]
    w.add_tokenizer_model("llama")
    w.add_token_list([f"<t{i}>".encode() for i in range(vocab)])
    w.add_token_scores([0.0] * vocab)
    w.add_token_types([gguf.TokenType.NORMAL] * vocab)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    for name, t in tensors.items():
        # Norm vectors stay f32 in llama.cpp's f16 files; matrices take the file's type.
        data = t if (kind == "f32" or t.ndim == 1) else t.astype(np.float16)
        w.add_tensor(gguf_name(name), np.ascontiguousarray(data))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
