#pragma once
// tern::hf: Hugging Face checkpoints and tokenizers (needs nlohmann-json, PCRE2 and
// SentencePiece; CMake target tern::hf). Everything of the core comes with it.
#include "tern/tern.hpp"

// safetensors reading (the writer is the core's io/safetensors.hpp)
#include "tern/hf/mapped_file.hpp"
#include "tern/hf/safetensors_file.hpp"
#include "tern/hf/safetensors_checkpoint.hpp"

// Llama-family checkpoints: config.json, import into any policy, export (Llama and BitNet layouts)
#include "tern/hf/llama_config.hpp"
#include "tern/hf/llama_import.hpp"
#include "tern/hf/llama_export.hpp"
#include "tern/hf/bitnet_export.hpp"

// tokenizers: tokenizer.json byte-level BPE, SentencePiece, one type for both, a BPE trainer
#include "tern/hf/pcre2_regex.hpp"
#include "tern/hf/bpe_tokenizer.hpp"
#include "tern/hf/sentencepiece_tokenizer.hpp"
#include "tern/hf/any_tokenizer.hpp"
#include "tern/hf/bpe_trainer.hpp"
