package io.chunkserve.engine;

import io.netty.channel.EventLoop;
import io.vertx.core.Context;
import io.vertx.core.Handler;
import io.vertx.core.internal.ContextInternal;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Carries engine outputs from the engine thread to the Vert.x context that submitted each request.
 * The engine thread does not post one task per output: outputs for the requests of one event loop
 * go into that loop's mailbox, which has at most one delivery task queued at a time, so a step's
 * outputs for a loop usually arrive in one task, in order. Contexts that are not event-loop
 * contexts (worker contexts) get one {@code runOnContext} per output.
 */
public final class ContextDelivery {
    private final Map<EventLoop, Mailbox> mailboxes = new ConcurrentHashMap<>();

    /** The listener to give the engine for a request submitted on {@code ctx}: runs {@code handler} there. */
    public RequestListener to(Context ctx, Handler<RequestOutput> handler) {
        ContextInternal c = (ContextInternal) ctx;
        if (!c.isEventLoopContext()) return out -> ctx.runOnContext(v -> handler.handle(out));
        Mailbox box = mailboxes.computeIfAbsent(c.nettyEventLoop(), Mailbox::new);
        return out -> box.post(c, handler, out);
    }

    /** One event loop's outputs from the engine thread, delivered in order, in batches. */
    private static final class Mailbox implements Runnable {
        private record Delivery(ContextInternal ctx, Handler<RequestOutput> handler, RequestOutput out) { }

        private final EventLoop loop;
        private final ConcurrentLinkedQueue<Delivery> queue = new ConcurrentLinkedQueue<>();
        private final AtomicBoolean posted = new AtomicBoolean();

        Mailbox(EventLoop loop) {
            this.loop = loop;
        }

        /** Any thread (the engine's): queues an output; schedules a delivery task unless one is queued. */
        void post(ContextInternal ctx, Handler<RequestOutput> handler, RequestOutput out) {
            queue.add(new Delivery(ctx, handler, out));
            if (posted.compareAndSet(false, true)) loop.execute(this);
        }

        /** On the loop: each output on its request's context. */
        @Override
        public void run() {
            posted.set(false); // before draining: an output queued from now on schedules another run
            for (Delivery d; (d = queue.poll()) != null; ) d.ctx().dispatch(d.out(), d.handler());
        }
    }
}
