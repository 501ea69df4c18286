#pragma once
// Chat records (make-chat's shards) as next-token training rows for supervised fine-tuning: a record's
// ids but the last are inputs, the next id is a target only where the loss mask marks it (what the
// assistant says), and conversations packed into one record each start at position 0 and see only
// themselves (the positions say where each starts; nn::AttentionMask takes them).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "train/record_loader.h"

namespace lmpipe::train {

// A chat record, copied out of its block.
struct ChatRecord {
  std::vector<uint32_t> ids, conversation_lens;
  std::vector<uint8_t> loss_mask;
};

// A micro-batch of chat records as B rows of Tn inputs, Tn the longest record's inputs: targets kIgnore
// where the mask is 0, across a conversation's end and in the padding after a shorter record (input 0,
// positions counting on from 0 as a sequence of their own).
struct ChatRows {
  size_t Tn = 0;
  std::vector<uint32_t> inputs, targets, positions;
  size_t targets_counted = 0;  // targets that are not kIgnore
};

// The next `count` records of loader, each at most max_inputs + 1 ids (the shard header's max_len);
// throws Error naming the file for a longer one.
std::vector<ChatRecord> take_chat_records(RecordLoader& loader, size_t count, size_t max_inputs);

void make_chat_rows(std::span<const ChatRecord> records, ChatRows& rows);

}  // namespace lmpipe::train
