// sample: generate text from a GPT checkpoint, or fill masks with a BERT/RoBERTa one. Flags here; the work
// is lib/gen/sample_job.cpp and lib/gen/fill_mask.cpp.
#include <string>
#include <vector>

#include "core/cli.h"
#include "core/output_file.h"
#include "gen/sample_job.h"
#include "nn/runtime.h"

int main(int argc, char** argv) {
  lmpipe::nn::prepare_compute_environment(argv);  // may re-execute once with better BLAS settings
  using namespace lmpipe;
  CLI::App app{"Generate text from a GPT checkpoint: zero- or few-shot prompts, temperature, top-k and nucleus "
               "sampling, streamed as it is generated; or fill masks with a BERT or RoBERTa checkpoint.",
               "sample"};
  CommonOptions common;
  gen::SampleOptions o;
  std::string prompt;
  add_common_options(app, common, "Output file (default stdout, streamed)");
  app.add_option("checkpoint", o.checkpoint, "Checkpoint directory, or a pretrain run directory (its latest)")
      ->type_name("CKPT")
      ->required();
  auto* prompt_opt = app.add_option("--prompt", prompt, "The text to continue (\"\": an unconditional sample)");
  auto* file_opt = app.add_option("--prompt-file", o.prompt_file, "Read the prompt from FILE (its final newline "
                                                                  "dropped); without a prompt flag, stdin is read")
                       ->type_name("FILE");
  auto* batch_opt = app.add_option("--batch-file", o.batch_file, "One prompt per line; one answer line each "
                                                                 "(the answer ends at its first newline)")
                        ->type_name("FILE");
  // One string, not a vector: CLI11 reads a vector's "[a,b]" as a list, and "[MASK] ... [MASK]" looks like one.
  std::string fill_text;
  auto* fill_opt = app.add_option("--fill-mask", fill_text, "BERT/RoBERTa: the most probable tokens for each [MASK] "
                                                            "(<mask>) of TEXT, --top-k of them (default 5)")
                       ->type_name("TEXT");
  auto* chat_opt = app.add_flag("--chat", o.chat, "A conversation with a chat model (fine-tuned on make-chat shards): "
                                                 "each line of stdin a user turn, each reply streamed");
  auto* messages_opt = app.add_option("--messages", o.messages_file, "Reply to the last user turn of each "
                                                                     "conversation ({\"messages\": [...]} a line): a "
                                                                     "JSON object each")
                           ->type_name("FILE");
  app.add_option("--image", o.image,
                 "A LLaVA checkpoint's picture (PNG, JPEG): with --prompt the text after it is continued (a caption), "
                 "with --chat a conversation about it")
      ->type_name("FILE");
  app.add_option("--system", o.system, "--chat, --messages: the system message")->type_name("TEXT");
  auto* score_opt = app.add_option("--score", o.score_file, "Score each conversation's last assistant reply "
                                                            "({\"messages\": [...]} a line): its log-probability "
                                                            "under a chat model, or a reward model's reward")
                        ->type_name("FILE");
  prompt_opt->excludes(file_opt)->excludes(batch_opt)->excludes(fill_opt);
  file_opt->excludes(batch_opt)->excludes(fill_opt);
  batch_opt->excludes(fill_opt);
  for (CLI::Option* other : {prompt_opt, file_opt, batch_opt, fill_opt}) {
    chat_opt->excludes(other);
    messages_opt->excludes(other);
    score_opt->excludes(other);
  }
  score_opt->excludes(chat_opt)->excludes(messages_opt);
  chat_opt->excludes(messages_opt);
  app.add_option("--shots", o.shots_file, "Few-shot examples, separated by blank lines, put before each prompt")
      ->type_name("FILE");
  app.add_option("--template", o.template_text, "Layout of an example and of the query, e.g. "
                                                "'Q: {input}\\nA: {output}' (\\n, \\t escapes)")
      ->type_name("T");
  app.add_option("--max-new-tokens", o.generate.max_new_tokens, "Tokens to generate at most")->capture_default_str();
  app.add_option("--temperature", o.generate.sampler.temperature, "Divide the logits by T (0: greedy)")
      ->capture_default_str();
  app.add_option("--top-k", o.generate.sampler.top_k, "Sample among the K most probable tokens (0: all); "
                                                      "--fill-mask: candidates to print")
      ->capture_default_str();
  app.add_option("--top-p", o.generate.sampler.top_p, "Nucleus: the most probable tokens whose probability "
                                                      "reaches P (1: all)")
      ->capture_default_str();
  app.add_flag("--greedy", o.generate.sampler.greedy, "Always the most probable token");
  app.add_option("--num-samples", o.num_samples, "Samples per prompt")->capture_default_str();
  app.add_option("--stop", o.generate.stop, "End the text at this string (not printed); repeatable")->type_name("STR");
  app.add_flag("--json", o.json, "One JSON object per sample: prompt, text, ids, finish_reason, prompt_tokens "
                                 "(--fill-mask: per mask, text, mask, position, candidates)");
  app.add_flag("--echo", o.echo, "Print the prompt (with shots and template) before its continuation");
  app.add_option("-v,--vocab", o.vocab, "Tokenizer files (default: the checkpoint's)")->type_name("VOCAB");
  app.add_option("--precision", o.precision,
                 "Matrix products in fp32, or bf16 (weights and activations rounded to bfloat16, sums in fp32; "
                 "CPUs with AVX512-BF16, elsewhere a warning and fp32)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();

  return run_main(app, argc, argv, [&] {
    if (!o.system.empty() && !o.chat && o.messages_file.empty()) throw UsageError("--system needs --chat or --messages");
    if ((o.chat || !o.messages_file.empty()) && (!o.shots_file.empty() || !o.template_text.empty() || o.json || o.echo ||
                                                o.num_samples != 1))
      throw UsageError("--chat and --messages take none of --shots, --template, --json, --echo, --num-samples");
    if (prompt_opt->count() > 0) o.prompt = prompt;
    if (fill_opt->count() > 0) o.fill_mask = {fill_text};
    o.seed = common.seed;
    o.threads = common.thread_count();
    o.quiet = common.quiet;
    OutputFile out(common.output, OutputContent::kText);
    gen::run_sample(o, out);
    out.commit();
  });
}
