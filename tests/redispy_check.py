#!/usr/bin/env python3
"""redispy_check.py -- drives tandem with redis-py (Debian's python3-redis).

Usage: redispy_check.py <tandem port>

Checks, each printing one line:
  (a) WATCH/MULTI/EXEC retry loop (pipeline.watch) from 4 threads x 100
      increments: final counter exactly 400 (WatchError retries counted);
  (b) a non-transactional pipeline of 1,000 mixed commands, every result
      as expected;
  (c) pub/sub: 100 messages published through tandem reach a subscriber
      of the same tandem, in order;
  (d) blpop from a consumer thread while a producer rpushes: every
      element received exactly once;
  (e) read-your-own-write: GET right after SET on the same client.
Prints "redis-py: all checks passed" and exits 0, or exits 1 with a
message. Every wait is bounded; 127.0.0.1 only.
"""
import sys
import threading
import time

import redis

HOST = "127.0.0.1"


def fail(msg):
    print("redis-py: FAILED: " + msg, flush=True)
    sys.exit(1)


def client(port):
    return redis.Redis(host=HOST, port=port, socket_timeout=20,
                       socket_connect_timeout=5, decode_responses=True)


def check_watch(port):
    r = client(port)
    r.set("rp:counter", 0)
    threads, per = 4, 100
    retries = [0] * threads
    errors = []

    def worker(idx):
        c = client(port)
        try:
            for _ in range(per):
                deadline = time.monotonic() + 30
                while True:
                    if time.monotonic() > deadline:
                        errors.append("thread %d: increment not done in 30 s"
                                      % idx)
                        return
                    with c.pipeline() as p:
                        try:
                            p.watch("rp:counter")
                            v = int(p.get("rp:counter"))
                            p.multi()
                            p.set("rp:counter", v + 1)
                            p.execute()
                            break
                        except redis.WatchError:
                            retries[idx] += 1
        except Exception as e:  # noqa: BLE001
            errors.append("thread %d: %r" % (idx, e))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
        if t.is_alive():
            fail("(a) a WATCH thread did not finish in 60 s")
    if errors:
        fail("(a) " + "; ".join(errors))
    final = int(r.get("rp:counter"))
    if final != threads * per:
        fail("(a) counter is %d, expected %d (retries %d)"
             % (final, threads * per, sum(retries)))
    print("redis-py: (a) WATCH/MULTI/EXEC: counter %d from %d threads x %d, "
          "%d WatchError retries" % (final, threads, per, sum(retries)),
          flush=True)


def check_pipeline(port):
    r = client(port)
    r.delete("rp:pl:list", "rp:pl:hash", "rp:pl:cnt")
    p = r.pipeline(transaction=False)
    expected = []
    for i in range(250):
        p.set("rp:pl:k%d" % i, "v%d" % i)
        expected.append(True)
        p.incr("rp:pl:cnt")
        expected.append(i + 1)
        p.rpush("rp:pl:list", "e%d" % i)
        expected.append(i + 1)
        p.get("rp:pl:k%d" % i)
        expected.append("v%d" % i)
    assert len(expected) == 1000
    got = p.execute()
    if len(got) != len(expected):
        fail("(b) pipeline returned %d results, expected %d"
             % (len(got), len(expected)))
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            fail("(b) pipeline result %d is %r, expected %r" % (i, g, e))
    if r.llen("rp:pl:list") != 250 or r.lindex("rp:pl:list", 249) != "e249":
        fail("(b) list after the pipeline is wrong")
    print("redis-py: (b) pipeline of %d mixed commands: all results correct"
          % len(expected), flush=True)


def check_pubsub(port):
    r = client(port)
    sub = client(port)
    ps = sub.pubsub()
    ps.subscribe("rp:chan")
    # Wait for the subscribe confirmation.
    deadline = time.monotonic() + 10
    confirmed = False
    while time.monotonic() < deadline:
        m = ps.get_message(timeout=1.0)
        if m is not None and m["type"] == "subscribe":
            confirmed = True
            break
    if not confirmed:
        fail("(c) no subscribe confirmation in 10 s")
    n = 100
    receivers = 0
    for i in range(n):
        receivers += r.publish("rp:chan", "msg-%d" % i)
    got = []
    deadline = time.monotonic() + 20
    while len(got) < n and time.monotonic() < deadline:
        m = ps.get_message(timeout=1.0)
        if m is None:
            continue
        if m["type"] == "message":
            if m["channel"] != "rp:chan":
                fail("(c) message on channel %r" % m["channel"])
            got.append(m["data"])
    ps.close()
    want = ["msg-%d" % i for i in range(n)]
    if got != want:
        first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                     min(len(got), len(want)))
        fail("(c) received %d of %d messages; first difference at %d "
             "(PUBLISH counted %d receivers)" % (len(got), n, first,
                                                 receivers))
    print("redis-py: (c) pub/sub: %d messages received in order "
          "(PUBLISH counted %d receivers)" % (len(got), receivers),
          flush=True)


def check_blpop(port):
    r = client(port)
    r.delete("rp:q")
    n = 500
    received = []
    errors = []

    def consumer():
        c = client(port)
        try:
            deadline = time.monotonic() + 30
            while len(received) < n and time.monotonic() < deadline:
                item = c.blpop("rp:q", timeout=2)
                if item is not None:
                    if item[0] != "rp:q":
                        errors.append("blpop returned key %r" % item[0])
                    received.append(item[1])
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    t = threading.Thread(target=consumer)
    t.start()
    time.sleep(0.2)             # let the consumer block first
    p = client(port)
    for i in range(0, n, 10):
        p.rpush("rp:q", *["item-%d" % j for j in range(i, i + 10)])
        if i % 100 == 0:
            time.sleep(0.01)
    t.join(40)
    if t.is_alive():
        fail("(d) consumer did not finish in 40 s")
    if errors:
        fail("(d) " + "; ".join(errors))
    if len(received) != n or len(set(received)) != n or \
            set(received) != {"item-%d" % i for i in range(n)}:
        fail("(d) received %d elements (%d distinct), expected %d exactly "
             "once" % (len(received), len(set(received)), n))
    if received != ["item-%d" % i for i in range(n)]:
        fail("(d) elements received out of order")
    left = r.llen("rp:q")
    if left != 0:
        fail("(d) %d elements left in the queue" % left)
    print("redis-py: (d) blpop consumer / rpush producer: %d elements, each "
          "exactly once" % len(received), flush=True)


def check_read_own_write(port):
    r = client(port)
    for i in range(200):
        v = "val-%d-%f" % (i, time.monotonic())
        r.set("rp:ryw", v)
        g = r.get("rp:ryw")
        if g != v:
            fail("(e) GET after SET returned %r, expected %r (iteration %d)"
                 % (g, v, i))
    print("redis-py: (e) read-your-own-write: 200 SET/GET pairs consistent",
          flush=True)


def main():
    if len(sys.argv) != 2:
        print("usage: redispy_check.py <tandem port>", file=sys.stderr)
        sys.exit(2)
    port = int(sys.argv[1])
    try:
        client(port).ping()
        check_watch(port)
        check_pipeline(port)
        check_pubsub(port)
        check_blpop(port)
        check_read_own_write(port)
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001
        fail("unexpected exception: %r" % e)
    print("redis-py: all checks passed", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
