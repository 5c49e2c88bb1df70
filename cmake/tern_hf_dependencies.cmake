# The libraries tern::hf needs (Hugging Face checkpoints and tokenizers), found the same way by
# tern's own build and by the installed package config:
#   nlohmann_json  JSON parsing (safetensors headers, config.json, tokenizer.json); header-only
#   PCRE2 (8-bit)  the pre-tokenizer regexes of byte-level BPE (they need lookahead)
#   SentencePiece  .model tokenizers
# Defines the imported targets tern_hf::pcre2 and tern_hf::sentencepiece, and sets
# TERN_HF_DEPENDENCIES_FOUND (TRUE/FALSE) and TERN_HF_MISSING (what is missing, for messages).
set(TERN_HF_MISSING "")
find_package(nlohmann_json 3.9 QUIET)
if(NOT nlohmann_json_FOUND)
  list(APPEND TERN_HF_MISSING "nlohmann_json (nlohmann-json3-dev)")
endif()

find_path(TERN_PCRE2_INCLUDE_DIR pcre2.h)
find_library(TERN_PCRE2_LIBRARY NAMES pcre2-8)
if(TERN_PCRE2_INCLUDE_DIR AND TERN_PCRE2_LIBRARY)
  if(NOT TARGET tern_hf::pcre2)
    add_library(tern_hf::pcre2 INTERFACE IMPORTED)
    set_target_properties(tern_hf::pcre2 PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${TERN_PCRE2_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${TERN_PCRE2_LIBRARY}"
      INTERFACE_COMPILE_DEFINITIONS "PCRE2_CODE_UNIT_WIDTH=8")
  endif()
else()
  list(APPEND TERN_HF_MISSING "PCRE2 (libpcre2-dev)")
endif()

find_path(TERN_SENTENCEPIECE_INCLUDE_DIR sentencepiece_processor.h)
find_library(TERN_SENTENCEPIECE_LIBRARY NAMES sentencepiece)
if(TERN_SENTENCEPIECE_INCLUDE_DIR AND TERN_SENTENCEPIECE_LIBRARY)
  if(NOT TARGET tern_hf::sentencepiece)
    add_library(tern_hf::sentencepiece INTERFACE IMPORTED)
    set_target_properties(tern_hf::sentencepiece PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${TERN_SENTENCEPIECE_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${TERN_SENTENCEPIECE_LIBRARY}")
  endif()
else()
  list(APPEND TERN_HF_MISSING "SentencePiece (libsentencepiece-dev)")
endif()

if(TERN_HF_MISSING)
  set(TERN_HF_DEPENDENCIES_FOUND FALSE)
else()
  set(TERN_HF_DEPENDENCIES_FOUND TRUE)
endif()
