package io.chunkserve.tokenizer;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.JinjavaInterpreter.InterpreterScopeClosable;
import com.hubspot.jinjava.interpret.NullValue;
import com.hubspot.jinjava.interpret.TemplateSyntaxException;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import com.hubspot.jinjava.util.ObjectTruthValue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Jinja2's {@code {% for targets in iterable [if condition] %}...[{% else %}...]{% endfor %}},
 * replacing Jinjava's for tag, whose semantics differ from Jinja2's:
 * <ul>
 *   <li>each iteration runs in a fresh scope, so a {@code {% set %}} in the body does not carry
 *       over to the next iteration (nor out of the loop); {@code namespace} attributes do;</li>
 *   <li>the loop filter {@code if condition} is applied (Jinjava ignores it) before counting, so
 *       {@code loop.index}, {@code loop.last}, {@code loop.length} count kept items only;</li>
 *   <li>{@code loop.previtem} / {@code loop.nextitem} exist ({@link PyLoop});</li>
 *   <li>dicts iterate over their keys, strings over their characters, undefined over nothing;</li>
 *   <li>the {@code else} block renders when no item was iterated.</li>
 * </ul>
 * {@code {% break %}} and {@code {% continue %}} work as in Jinjava. Recursive loops are not
 * supported.
 */
final class PyForTag implements Tag {

    private static final long serialVersionUID = 1L;

    @Override
    public String getName() {
        return "for";
    }

    @Override
    public String getEndTagName() {
        return "endfor";
    }

    @Override
    public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
        String helpers = tagNode.getHelpers();
        int in = JinjaSourceRewriter.topLevelKeyword(helpers, "in", 0);
        if (in < 0) {
            throw new TemplateSyntaxException(interpreter, helpers.strip(), "for tag expects 'targets in iterable', got: "
                    + helpers.strip());
        }
        String targetText = helpers.substring(0, in).strip();
        if (targetText.startsWith("(") && targetText.endsWith(")")) {
            targetText = targetText.substring(1, targetText.length() - 1);
        }
        List<String> targets = Arrays.stream(targetText.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
        int cond = JinjaSourceRewriter.topLevelKeyword(helpers, "if", in + 2);
        String iterExpr = (cond < 0 ? helpers.substring(in + 2) : helpers.substring(in + 2, cond)).strip();
        String condExpr = cond < 0 ? null : helpers.substring(cond + 2).strip();
        if (targets.isEmpty() || JinjaSourceRewriter.topLevelKeyword(iterExpr, "recursive", 0) >= 0
                || (condExpr != null && JinjaSourceRewriter.topLevelKeyword(condExpr, "recursive", 0) >= 0)) {
            throw new TemplateSyntaxException(interpreter, helpers.strip(), "unsupported for loop: " + helpers.strip());
        }

        Object collection = interpreter.resolveELExpression(iterExpr, tagNode.getLineNumber());
        List<Object> items = new ArrayList<>();
        for (Object item : items(collection)) {
            if (condExpr == null) {
                items.add(item);
                continue;
            }
            try (InterpreterScopeClosable scope = interpreter.enterScope()) {
                bind(interpreter, targets, item);
                if (ObjectTruthValue.evaluate(interpreter.resolveELExpression(condExpr, tagNode.getLineNumber()))) {
                    items.add(item);
                }
            }
        }

        List<Node> body = new ArrayList<>();
        List<Node> orElse = new ArrayList<>();
        List<Node> target = body;
        for (Node child : tagNode.getChildren()) {
            if (target == body && child instanceof TagNode t && "else".equals(t.getName())) {
                target = orElse;
                continue;
            }
            target.add(child);
        }

        StringBuilder out = new StringBuilder();
        if (items.isEmpty()) {
            for (Node node : orElse) {
                out.append(node.render(interpreter).getValue());
            }
            return out.toString();
        }
        PyLoop loop = new PyLoop(items);
        try (InterpreterScopeClosable loopScope = interpreter.enterScope()) {
            interpreter.getContext().put("loop", loop);
            while (loop.hasNext()) {
                Object item = interpreter.wrap(loop.next());
                try (InterpreterScopeClosable iteration = interpreter.enterScope()) {
                    bind(interpreter, targets, item);
                    for (Node node : body) {
                        out.append(node.render(interpreter).getValue());
                        if (loop.isContinued()) {
                            break;
                        }
                    }
                }
            }
        }
        return out.toString();
    }

    /** What Jinja2 iterates: list items, dict keys, string characters; nothing for undefined/None. */
    static List<Object> items(Object collection) {
        List<Object> out = new ArrayList<>();
        if (collection == null) {
            return out;
        }
        if (collection instanceof Map<?, ?> m) {
            out.addAll(m.keySet());
        } else if (collection instanceof Iterable<?> it) {
            it.forEach(out::add);
        } else if (collection instanceof Iterator<?> it) {
            it.forEachRemaining(out::add);
        } else if (collection.getClass().isArray()) {
            PyFormat.iterable(collection).forEach(out::add);
        } else if (collection instanceof CharSequence cs) {
            cs.toString().codePoints().forEach(cp -> out.add(Character.toString(cp)));
        } else {
            throw new IllegalArgumentException("'" + collection.getClass().getSimpleName() + "' object is not iterable");
        }
        return out;
    }

    private static void bind(JinjavaInterpreter interpreter, List<String> names, Object item) {
        if (names.size() == 1) {
            put(interpreter, names.get(0), item);
            return;
        }
        List<Object> parts = new ArrayList<>();
        if (item instanceof Map.Entry<?, ?> e) {
            parts.add(e.getKey());
            parts.add(e.getValue());
        } else if (item instanceof Iterable<?> it && !(item instanceof Map<?, ?>)) {
            it.forEach(parts::add);
        } else if (item != null && item.getClass().isArray()) {
            PyFormat.iterable(item).forEach(parts::add);
        } else if (item instanceof CharSequence cs) {
            cs.toString().codePoints().forEach(cp -> parts.add(Character.toString(cp)));
        }
        if (parts.size() != names.size()) {
            throw new IllegalArgumentException("cannot unpack " + PyFormat.repr(item) + " into " + names.size() + " names");
        }
        for (int i = 0; i < names.size(); i++) {
            put(interpreter, names.get(i), interpreter.wrap(parts.get(i)));
        }
    }

    private static void put(JinjavaInterpreter interpreter, String name, Object value) {
        // a null would let an outer variable of the same name show through
        interpreter.getContext().put(name, value == null ? NullValue.INSTANCE : value);
    }
}
