package io.chunkserve.service;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.engine.Worker;
import io.chunkserve.engine.WorkerConfig;
import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.tokenizer.ChatMessage;
import io.chunkserve.tokenizer.ChatTemplate;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/** {@code chunkserve generate}: one generation through the same engine the server uses. */
@Command(name = "generate", description = "Generate text once (use --json for scripts).")
public final class GenerateCommand implements java.util.concurrent.Callable<Integer> {
    @Option(names = "--model", description = "Hugging Face model directory (default: the bundled demo model)")
    Path model;

    @Option(names = "--prompt", required = true, description = "the prompt text")
    String prompt;

    @Option(names = "--chat", description = "send the prompt as one user message through the model's chat template")
    boolean chat;

    @Option(names = "--max-tokens", defaultValue = "32", description = "tokens to generate at most (default ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "1.0", description = "0 = greedy (default ${DEFAULT-VALUE})")
    double temperature;

    @Option(names = "--top-p", defaultValue = "1.0")
    double topP;

    @Option(names = "--top-k", defaultValue = "-1")
    int topK;

    @Option(names = "--min-p", defaultValue = "0")
    double minP;

    @Option(names = "--seed", description = "sampling seed (reproducible output)")
    Long seed;

    @Option(names = "--stop", description = "stop string (repeatable)")
    List<String> stop = new ArrayList<>();

    @Option(names = "--top-logprobs", defaultValue = "0", description = "alternatives to report per token (0..20)")
    int topLogprobs;

    @Option(names = "--ignore-eos", description = "keep generating past the end-of-sequence token")
    boolean ignoreEos;

    @Option(names = "--json", description = "print exactly one JSON object")
    boolean json;

    @Option(names = "--threads", description = "compute threads (default: all cores)")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        SamplingParams params = SamplingParams.builder().temperature(temperature).topP(topP).topK(topK).minP(minP).seed(seed)
                .maxTokens(maxTokens).ignoreEos(ignoreEos).stop(stop).logprobs(topLogprobs > 0).topLogprobs(topLogprobs).build();
        WorkerConfig cfg = WorkerConfig.defaults(model != null ? model : Defaults.demoModel()).withKvBytes(64L << 20);
        if (threads != null) cfg = new WorkerConfig(cfg.modelDir(), threads, cfg.chunkSize(), cfg.kvBytes(), cfg.kvDtype(),
                cfg.engine(), cfg.scheduler(), cfg.quantum());
        try (Worker w = Worker.start(cfg)) {
            int[] ids;
            if (chat) {
                ChatTemplate tpl = w.chatTemplate().orElseThrow(() -> new IllegalArgumentException("this model has no chat template; drop --chat"));
                ids = w.tokenizer().encode(tpl.render(List.of(ChatMessage.user(prompt)), true), false);
            } else {
                ids = w.tokenizer().encode(prompt, true);
            }
            BlockingQueue<RequestOutput> outs = new LinkedBlockingQueue<>();
            w.engine().submit(new GenerationRequest("cli-1", "cli", ids, params, 0), outs::add);
            PrintStream stdout = new PrintStream(System.out, true, StandardCharsets.UTF_8);
            List<Integer> outIds = new ArrayList<>();
            StringBuilder text = new StringBuilder();
            List<List<Map<String, Object>>> tops = new ArrayList<>();
            while (true) {
                RequestOutput o = outs.take();
                if (o.error() != null) throw new IllegalStateException(o.error());
                for (RequestOutput.ChoiceDelta d : o.choices()) {
                    for (int id : d.tokenIds()) outIds.add(id);
                    text.append(d.text());
                    if (!json) stdout.print(d.text());
                    for (RequestOutput.TokenLogprob lp : d.logprobs()) {
                        List<Map<String, Object>> alts = new ArrayList<>();
                        for (RequestOutput.TokenLogprob t : lp.top()) {
                            Map<String, Object> m = new LinkedHashMap<>();
                            m.put("id", t.id());
                            m.put("token", t.token());
                            m.put("logprob", t.logprob());
                            alts.add(m);
                        }
                        tops.add(alts);
                    }
                }
                if (o.finished()) break;
            }
            if (json) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("prompt_ids", ids);
                r.put("output_ids", outIds);
                r.put("output_text", text.toString());
                r.put("top_logprobs", tops);
                stdout.println(new ObjectMapper().writeValueAsString(r));
            } else {
                stdout.println();
            }
        }
        return 0;
    }
}
