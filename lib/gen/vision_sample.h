#pragma once
// sample with a LLaVA checkpoint (pretrain --arch llava): a picture is read, resized and cropped as
// make-images does it, encoded once by the vision tower and the projector, and its embeddings go into the
// KV cache where its placeholder ids are; then text is generated as for any GPT.
//   --image FILE [--prompt TEXT]  the picture, then the text, continued (a captioning model's layout:
//                                 make-images' {"image", "text"} records); --num-samples, --json
//   --image FILE --chat           a conversation about the picture: each line of stdin a user turn, the
//                                 first with the picture before it
//   --messages FILE               the reply to the last user turn of each line, make-images' layout
//                                 ({"image", "messages"} or LLaVA's "conversations"; the picture relative to
//                                 FILE; a line without "image" has no picture), as JSON lines with "image"
#include "core/output_file.h"
#include "gen/sample_job.h"

namespace lmpipe::gen {

void run_vision_sample(const SampleOptions& options, ByteSink& out);

}  // namespace lmpipe::gen
