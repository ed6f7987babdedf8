// Reactive pagination through the official client's page subscriptions
// (`ConvexClient.onPaginatedUpdate_experimental`): loaded pages stay
// contiguous while rows are inserted and deleted inside them.
//
// argv[3] is the scenario. "reconnect" waits for the test: it prints
// "restart_now", the test restarts the server and writes "restarted".
import { createInterface } from "node:readline";
import { anyApi } from "convex/server";
import { check, emit, newClient, run, within } from "./harness.mjs";

const scenario = process.argv[3];
const pages = anyApi.pages;

// Every result a paginated subscription delivered, with a way to wait for one.
class PaginatedWatch {
  constructor(client, ref, initialNumItems, name) {
    this.name = name;
    this.client = client;
    this.history = [];
    this.latest = undefined;
    this.errors = [];
    this.waiters = [];
    this.unsubscribe = client.onPaginatedUpdate_experimental(
      ref,
      {},
      { initialNumItems },
      (result) => this.deliver(result),
      (error) => {
        this.errors.push(String(error?.message ?? error));
        this.waiters = this.waiters.filter((waiter) => !waiter.offer());
      },
    );
  }

  deliver(result) {
    this.latest = result;
    this.history.push({ labels: result.results.map((item) => item.label), status: result.status });
    this.waiters = this.waiters.filter((waiter) => !waiter.offer());
  }

  get labels() {
    return this.latest ? this.latest.results.map((item) => item.label) : undefined;
  }

  // Resolves once the latest result satisfies `predicate(labels, status)`.
  until(predicate, what, ms = 15000) {
    const test = () =>
      this.latest !== undefined && predicate(this.labels, this.latest.status);
    if (test()) return Promise.resolve(this.labels);
    let offer;
    const arrived = new Promise((resolve) => {
      offer = () => (test() ? (resolve(this.labels), true) : false);
    });
    this.waiters.push({ offer });
    return within(arrived, ms, `${this.name}: ${what} (history ${JSON.stringify(this.history)}, errors ${this.errors})`);
  }

  // Resolves with the first result from now on that satisfies `predicate`.
  next(predicate, what, ms = 15000) {
    const from = this.history.length;
    let offer;
    const arrived = new Promise((resolve) => {
      offer = () => {
        const found = this.history.slice(from).find((h) => predicate(h.labels, h.status));
        return found ? (resolve(found.labels), true) : false;
      };
    });
    this.waiters.push({ offer });
    return within(arrived, ms, `${this.name}: ${what} (history ${JSON.stringify(this.history)}, errors ${this.errors})`);
  }

  async loadMore(numItems, expected) {
    check(this.latest.status === "CanLoadMore", "a page can be loaded", { status: this.latest.status });
    check(this.latest.loadMore(numItems), "loadMore started");
    return this.until((labels, status) => status !== "LoadingMore" && same(labels, expected), `labels ${expected}`);
  }

  // The page queries the client holds for this subscription, in order.
  pageCount() {
    const [query] = this.client.paginatedClient.paginatedQuerySet.values();
    return query.pageKeys.length;
  }
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const labelsOf = (...ranks) => ranks.map(String);

async function seed(client, ...ranks) {
  for (const rank of ranks) await client.mutation(pages.add, { rank, label: String(rank) });
}

// A row from now on that holds `label`: the first list the client shows with it.
const showing = (label) => (labels) => labels.includes(label);
const hiding = (label) => (labels) => !labels.includes(label);

const scenarios = {
  // Newest first: 11 lands in page 1; 8, its last row, must stay.
  async insert_newest() {
    const client = newClient();
    await seed(client, 5, 6, 7, 8, 9, 10);
    const watch = new PaginatedWatch(client, pages.newest, 3, "newest");
    await watch.until((labels) => same(labels, labelsOf(10, 9, 8)), "the first page");
    await watch.loadMore(3, labelsOf(10, 9, 8, 7, 6, 5));
    const seen = watch.next(showing("11"), "the list with 11");
    await seed(client, 11);
    emit("after_insert", { labels: await seen, pages: watch.pageCount() });
  },

  // A delete in page 1 shrinks it; no row moves into two pages.
  async delete_in_first_page() {
    const client = newClient();
    await seed(client, 1, 2, 3, 4, 5, 6);
    const watch = new PaginatedWatch(client, pages.newest, 2, "newest");
    await watch.until((labels) => same(labels, labelsOf(6, 5)), "the first page");
    await watch.loadMore(2, labelsOf(6, 5, 4, 3));
    await watch.loadMore(2, labelsOf(6, 5, 4, 3, 2, 1));
    let seen = watch.next(hiding("5"), "the list without 5");
    await client.mutation(pages.remove, { label: "5" });
    const first = await seen;
    seen = watch.next(hiding("3"), "the list without 3");
    await client.mutation(pages.remove, { label: "3" }); // the last row of page 2
    emit("after_delete", { first, second: await seen });
  },

  // Ranks ascending: 25 lands inside page 2, 45 between pages 2 and 3.
  async insert_mid_index() {
    const client = newClient();
    await seed(client, 10, 20, 30, 40, 50, 60);
    const watch = new PaginatedWatch(client, pages.by_rank, 2, "by_rank");
    await watch.until((labels) => same(labels, labelsOf(10, 20)), "the first page");
    await watch.loadMore(2, labelsOf(10, 20, 30, 40));
    await watch.loadMore(2, labelsOf(10, 20, 30, 40, 50, 60));
    let seen = watch.next(showing("25"), "the list with 25");
    await seed(client, 25);
    const first = await seen;
    seen = watch.next(showing("45"), "the list with 45");
    await seed(client, 45);
    emit("after_insert", { first, second: await seen, status: watch.latest.status });
  },

  // Page 1 grows past twice its size: the server marks it for a split and
  // the client replaces it with two page queries, showing the same rows.
  async split() {
    const client = newClient();
    await seed(client, 1, 2, 3, 4);
    const watch = new PaginatedWatch(client, pages.newest, 2, "newest");
    await watch.until((labels) => same(labels, labelsOf(4, 3)), "the first page");
    await watch.loadMore(2, labelsOf(4, 3, 2, 1));
    check(watch.pageCount() === 2, "two pages before the split", { pages: watch.pageCount() });
    await seed(client, 5, 6, 7);
    const grown = await watch.until(
      (labels) => same(labels, labelsOf(7, 6, 5, 4, 3, 2, 1)) && watch.pageCount() === 3,
      "page 1 split in two",
    );
    // The halves stay live and contiguous.
    const seen = watch.next(showing("8"), "the list with 8");
    await seed(client, 8);
    const after = await seen;
    emit("split", { grown, after, pages: watch.pageCount(), history: watch.history });
  },

  // The pinned end survives a reconnect: the client re-subscribes with the
  // journal, so page 1 keeps the rows it grew to.
  async reconnect() {
    const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
    const client = newClient();
    await seed(client, 5, 6, 7, 8, 9, 10);
    const watch = new PaginatedWatch(client, pages.newest, 3, "newest");
    await watch.until((labels) => same(labels, labelsOf(10, 9, 8)), "the first page");
    await watch.loadMore(3, labelsOf(10, 9, 8, 7, 6, 5));
    await seed(client, 11);
    await watch.until((labels) => labels.includes("11"), "the list with 11");
    emit("restart_now");
    const reply = await lines.next();
    check(reply.value === "restarted", "the test restarted the server", { reply });
    const seen = watch.next(showing("12"), "the list with 12 after the reconnect", 40000);
    await client.mutation(pages.add, { rank: 12, label: "12" });
    emit("after_reconnect", {
      labels: await seen,
      connectionCount: client.connectionState().connectionCount,
    });
  },
};

await run(
  async () => {
    check(scenario in scenarios, `unknown scenario ${scenario}`);
    await scenarios[scenario]();
  },
  { timeoutMs: 60000 },
);
