// The .kestrel checksum: a 64-bit multiply-rotate hash over the bytes after
// the file header. It only has to catch accidental damage (truncated
// downloads, bit rot, partial writes), not forgery, and it must run at memory
// speed because every load hashes the whole weights section: CRC-32 from
// zlib runs well below that on this class of machine.
//
// Every step is a bijection of the running state, so any change confined to
// one 8-byte word — in particular any single flipped byte — always changes
// the result.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kestrel {

uint64_t model_checksum(const void* data, size_t size);

// Makes model_checksum take its plain C++ path even where AVX-512 is
// available (tests compare both on one machine). Not thread-safe.
void force_portable_checksum(bool portable);

}  // namespace kestrel
