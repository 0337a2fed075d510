package io.chunkserve.tokenizer;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.expression.ExpressionStrategy;
import com.hubspot.jinjava.tree.output.RenderedOutputNode;
import com.hubspot.jinjava.tree.parse.ExpressionToken;

/**
 * Outputs {@code {{ expr }}} the way Jinja2 does, with Python's {@code str()}: True/False,
 * Python lists and dicts, Python float formatting. Unlike Jinjava's default strategy it never
 * re-renders output that contains {@code {{} (a user message such as "{{ 7*7 }}" stays text) and
 * never HTML-escapes.
 */
final class PyExpressionStrategy implements ExpressionStrategy {

    private static final long serialVersionUID = 1L;

    @Override
    public RenderedOutputNode interpretOutput(ExpressionToken master, JinjavaInterpreter interpreter) {
        Object value = interpreter.resolveELExpression(master.getExpr(), master.getLineNumber());
        return new RenderedOutputNode(PyFormat.str(value));
    }
}
