#pragma once
// tern: header-only C++20 ternary (1.58-bit) neural networks. This umbrella header gives
// everything of the core (tern::tern); each header below is also self-contained and may be
// included alone. Hugging Face checkpoints and tokenizers are tern::hf's: tern/hf.hpp. The
// tern/dist/ headers work without MPI (one process); linking tern::mpi makes them MPI's.

// core
#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/core/parameter.hpp"
#include "tern/core/layer.hpp"

// quantizers
#include "tern/quant/rounding.hpp"
#include "tern/quant/granularity.hpp"
#include "tern/quant/ste.hpp"
#include "tern/quant/quantized.hpp"
#include "tern/quant/quantizer.hpp"
#include "tern/quant/absmean_ternary.hpp"
#include "tern/quant/absmax_int8.hpp"
#include "tern/quant/identity_quantizer.hpp"
#include "tern/quant/lambda_mix.hpp"

// layers
#include "tern/nn/rms_norm.hpp"
#include "tern/nn/no_norm.hpp"
#include "tern/nn/bit_linear.hpp"
#include "tern/nn/visit_prefixed.hpp"
#include "tern/nn/embedding.hpp"
#include "tern/nn/rotary.hpp"
#include "tern/nn/attention.hpp"
#include "tern/nn/swiglu_mlp.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/transformer_block.hpp"
#include "tern/nn/transformer_config.hpp"
#include "tern/nn/transformer.hpp"
#include "tern/nn/cross_entropy.hpp"
#include "tern/nn/kd_loss.hpp"

// schedules
#include "tern/schedule/schedule.hpp"
#include "tern/schedule/constant_lambda.hpp"
#include "tern/schedule/linear_warmup.hpp"
#include "tern/schedule/fixed_warmup.hpp"
#include "tern/schedule/exponential_warmup.hpp"
#include "tern/schedule/sigmoid_warmup.hpp"
#include "tern/schedule/step_schedule.hpp"
#include "tern/schedule/layer_wise.hpp"
// Training side: optimizer, schedules, clipping, data, checkpoints, the loop.
#include "tern/optim/parameterized.hpp"
#include "tern/optim/adamw.hpp"
#include "tern/optim/lr_schedule.hpp"
#include "tern/optim/clip_grad_norm.hpp"
#include "tern/data/rng.hpp"
#include "tern/data/byte_corpus.hpp"
#include "tern/data/token_corpus.hpp"
#include "tern/tokenizer/tokenizer.hpp"
#include "tern/tokenizer/byte_tokenizer.hpp"
#include "tern/data/markov_source.hpp"
#include "tern/io/checksum.hpp"
#include "tern/io/regular_file.hpp"
#include "tern/io/atomic_file_writer.hpp"
#include "tern/io/checkpoint.hpp"
#include "tern/io/safetensors.hpp"
#include "tern/train/trainer.hpp"
#include "tern/train/lm_step.hpp"
#include "tern/train/retain_heap.hpp"

// Data-parallel training: MPI's communicator with tern::mpi (TERN_HAS_MPI), else one process.
#include "tern/dist/communicator.hpp"
#include "tern/dist/environment.hpp"
#include "tern/dist/shard_batch.hpp"
#include "tern/dist/gradient_averager.hpp"
#include "tern/dist/root_checkpoint.hpp"

// Kernels: packed ternary formats, activation quantization, the scalar reference, the
// per-architecture paths, the executor and the GEMV/GEMM entry points; the LM-head formats.
#include "tern/kernels/arch.hpp"
#include "tern/kernels/executor.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"
#include "tern/kernels/quantized_activations.hpp"
#include "tern/kernels/reference.hpp"
#include "tern/kernels/gemm.hpp"
#include "tern/kernels/packed_int8.hpp"
#include "tern/kernels/packed_bf16.hpp"

// Inference: freeze a trained model to the kernels, run it over a KV cache, sample, generate,
// and the model file it is saved in.
#include "tern/infer/frozen_norm.hpp"
#include "tern/infer/dense_f32.hpp"
#include "tern/infer/frozen_linear.hpp"
#include "tern/infer/kv_cache.hpp"
#include "tern/infer/inference_model.hpp"
#include "tern/infer/session.hpp"
#include "tern/infer/sampler.hpp"
#include "tern/infer/generate.hpp"
#include "tern/infer/freeze.hpp"
#include "tern/io/checksum.hpp"
#include "tern/io/model_file.hpp"
#include "tern/io/gguf_value.hpp"
#include "tern/io/gguf_quants.hpp"
#include "tern/io/gguf_file.hpp"
#include "tern/io/gguf_writer.hpp"
#include "tern/io/gguf_model.hpp"
