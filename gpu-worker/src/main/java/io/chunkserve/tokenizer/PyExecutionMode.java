package io.chunkserve.tokenizer;

import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.mode.ExecutionMode;

/** Jinjava's default execution, with {@link PyExpressionStrategy} printing expressions. */
final class PyExecutionMode implements ExecutionMode {

    @Override
    public void prepareContext(Context context) {
        context.setExpressionStrategy(new PyExpressionStrategy());
    }
}
