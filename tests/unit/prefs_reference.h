#pragma once
// The prefs records of a PyTorch reference file (make_reward_reference.py, make_dpo_reference.py): ids,
// part_lens and record_parts, concatenated.
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "train/pair_batch.h"

inline std::vector<lmpipe::train::PrefsRecord> reference_prefs_records(const lmpipe::io::SafetensorsFile& f) {
  const auto ids = f.read_ids(*f.find("ids")), lens = f.read_ids(*f.find("part_lens"));
  const auto parts = f.read_ids(*f.find("record_parts"));
  std::vector<lmpipe::train::PrefsRecord> records;
  size_t at = 0, part = 0;
  for (const uint32_t n : parts) {
    lmpipe::train::PrefsRecord r;
    r.part_lens.assign(lens.begin() + long(part), lens.begin() + long(part + n));
    size_t length = 0;
    for (const uint32_t l : r.part_lens) length += l;
    r.ids.assign(ids.begin() + long(at), ids.begin() + long(at + length));
    at += length;
    part += n;
    records.push_back(std::move(r));
  }
  return records;
}
