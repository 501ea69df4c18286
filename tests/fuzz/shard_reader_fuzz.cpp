// libFuzzer target for everything that parses shard bytes. The first input byte picks the path:
//   0: the streaming reader, decoding every block (what every program does);
//   1: the streaming reader with decoding off (shard-cat --header);
//   2: random access through the end-of-shard indexes (the input as a file);
//   3: the payload decoder alone, so mutations reach its checks without having to forge a zstd
//      checksum: kind, dtype, vocab size and the block header counts come from the next bytes.
// Every input must end in success or lmpipe::Error; anything else (a crash, a sanitizer report, a leak,
// an allocation over libFuzzer's -malloc_limit_mb) is a bug.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <span>
#include <string>

#include "core/error.h"
#include "core/input_file.h"
#include "io/shard_file.h"
#include "io/shard_reader.h"

using namespace lmpipe;
using namespace lmpipe::io;

namespace {

void stream(std::span<const uint8_t> bytes, bool decode) {
  ReaderOptions options;
  options.decode = decode;
  ShardReader reader(InputStream::from_memory("fuzz", bytes), options);
  RecordView r;
  uint64_t sum = 0;
  while (reader.next(r)) sum += r.ids.size() + r.positions.size() + r.sentence_lens.size() + r.pixels.size();
  if (decode && sum < reader.totals().tokens) __builtin_trap();  // every token must be reachable
}

void random_access(std::span<const uint8_t> bytes) {
  const int fd = ::memfd_create("fuzz", 0);
  if (fd < 0) return;
  if (::write(fd, bytes.data(), bytes.size()) == ssize_t(bytes.size())) {
    try {
      ShardFile file("/proc/self/fd/" + std::to_string(fd));
      Block block;
      for (size_t i = 0; i < file.blocks().size(); ++i) file.read_block(i, block);
    } catch (const Error&) {
    }
  }
  ::close(fd);
}

void payload(std::span<const uint8_t> bytes) {
  if (bytes.size() < 16) return;
  const auto kind = RecordKind(bytes[0] % kRecordKinds);
  const auto dtype = TokenDtype(bytes[1] % 2);
  const uint32_t vocab = 1 + (uint32_t(bytes[2]) | uint32_t(bytes[3]) << 8);
  BlockHeader h;
  h.records = 1 + bytes[4] % 64;
  h.items = uint32_t(bytes[5]) | uint32_t(bytes[6]) << 8;
  h.tokens = uint32_t(bytes[7]) | uint32_t(bytes[8]) << 8;
  const auto body = bytes.subspan(16);
  h.payload_size = uint32_t(body.size());
  Block block;
  decode_payload(kind, dtype, vocab, h, body, block);
  for (size_t i = 0; i < block.size(); ++i) (void)block.record(i);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::span<const uint8_t> bytes(data + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0: stream(bytes, true); break;
      case 1: stream(bytes, false); break;
      case 2: random_access(bytes); break;
      case 3: payload(bytes); break;
    }
  } catch (const Error&) {
  }
  return 0;
}
