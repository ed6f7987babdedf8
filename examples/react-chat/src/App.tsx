import { SignInButton, SignOutButton, useUser } from "@app/auth";
import {
  AuthLoading,
  Authenticated,
  Unauthenticated,
  useConvexAuth,
  useMutation,
  usePaginatedQuery,
  useQuery,
} from "convex/react";
import { type FormEvent, useState } from "react";
import { api, type Doc, type Id } from "./generated/api";
import { settings } from "./settings";

const CHANNEL = "general";

// A message as messages:list returns it: with its image's URL, if it has one.
type Message = Doc<"messages"> & { imageUrl?: string | null };
const PAGE_SIZE = 3;

export function App() {
  return (
    <main>
      <h1>livesync chat</h1>
      <AuthLoading>
        <p data-state="auth-loading">Checking your session…</p>
      </AuthLoading>
      <Unauthenticated>
        <section data-state="unauthenticated">
          <p>Sign in to chat.</p>
          <SignInButton mode="modal" />
        </section>
      </Unauthenticated>
      <Authenticated>
        <Chat />
      </Authenticated>
    </main>
  );
}

function Chat() {
  const { isAuthenticated } = useConvexAuth();
  const { user } = useUser();
  const mine = useQuery(api.messages.getForCurrentUser) as Doc<"messages">[] | undefined;
  const channel = useQuery(api.messages.list, { channel: CHANNEL }) as Message[] | undefined;
  const send = useMutation(api.messages.send);
  const generateUploadUrl = useMutation(api.messages.generateUploadUrl);
  const [body, setBody] = useState("");
  const [vanishing, setVanishing] = useState(false);
  const [image, setImage] = useState<File | null>(null);
  const [fileInputKey, setFileInputKey] = useState(0);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const text = body.trim();
    if (!text) return;
    setBody("");
    // The server schedules the message's deletion in the same transaction.
    const vanishAfter = vanishing ? settings.vanishSeconds : undefined;
    let storageId: Id<"_storage"> | undefined;
    if (image) {
      // Convex's three steps: an upload URL, the file POSTed to it, its id sent.
      const uploadUrl = await generateUploadUrl();
      const reply = await fetch(uploadUrl, {
        method: "POST",
        headers: { "Content-Type": image.type },
        body: image,
      });
      storageId = (await reply.json()).storageId;
      setImage(null);
      setFileInputKey((key) => key + 1);
    }
    void send({ channel: CHANNEL, body: text, vanishAfter, image: storageId });
  };

  return (
    <section data-state="authenticated">
      <header>
        <span data-testid="whoami">
          {isAuthenticated ? "Signed in" : "Signing in"} as{" "}
          {user?.primaryEmailAddress?.emailAddress ?? "…"}
        </span>
        <SignOutButton />
      </header>
      <form onSubmit={(event) => void submit(event)}>
        <input
          aria-label="Message"
          placeholder={`Message #${CHANNEL}`}
          value={body}
          onChange={(event) => setBody(event.target.value)}
        />
        <input
          key={fileInputKey}
          type="file"
          accept="image/*"
          aria-label="Attach image"
          onChange={(event) => setImage(event.target.files?.[0] ?? null)}
        />
        <label className="vanish">
          <input
            type="checkbox"
            checked={vanishing}
            onChange={(event) => setVanishing(event.target.checked)}
          />
          Vanish after {settings.vanishSeconds} s
        </label>
        <button type="submit">Send</button>
      </form>
      <div className="columns">
        <MessageList title="Your messages" testId="mine" messages={mine} showAuthor={false} />
        <MessageList title={`#${CHANNEL}`} testId="channel" messages={channel} showAuthor />
        <History />
        <Search />
      </div>
    </section>
  );
}

function MessageList({
  title,
  testId,
  messages,
  showAuthor,
}: {
  title: string;
  testId: string;
  messages: Message[] | undefined;
  showAuthor: boolean;
}) {
  return (
    <div data-testid={testId} data-loaded={messages !== undefined}>
      <h2>{title}</h2>
      {messages === undefined ? (
        <p>Loading…</p>
      ) : messages.length === 0 ? (
        <p>No messages yet.</p>
      ) : (
        <ul>
          {messages.map((message) => (
            <li key={message._id} data-vanishing={message.expiresAt !== undefined}>
              {showAuthor && <b>{message.author ?? "anonymous"}: </b>}
              <span className="body">{message.body}</span>
              {message.imageUrl && <img className="attached" src={message.imageUrl} alt="" />}
              {message.expiresAt !== undefined && (
                <span className="vanishes" title="Deleted by the server's scheduler">
                  {" "}
                  ⏳
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

// The channel page by page, newest first, as the Convex pagination docs show
// it: each loaded page stays live, and grows or shrinks in place as messages
// are sent or deleted inside it.
function History() {
  const { results, status, loadMore } = usePaginatedQuery(
    api.messages.listPaginated,
    { channel: CHANNEL },
    { initialNumItems: PAGE_SIZE },
  );
  const remove = useMutation(api.messages.remove);
  const messages = results as Doc<"messages">[];
  return (
    <div data-testid="history" data-status={status}>
      <h2>History</h2>
      {status === "LoadingFirstPage" ? (
        <p>Loading…</p>
      ) : (
        <ul>
          {messages.map((message) => (
            <li key={message._id}>
              <span className="body">{message.body}</span>{" "}
              <button
                type="button"
                className="delete"
                aria-label={`Delete ${message.body}`}
                onClick={() => void remove({ id: message._id })}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      {status === "CanLoadMore" && (
        <button type="button" onClick={() => loadMore(PAGE_SIZE)}>
          Load more
        </button>
      )}
      {status === "LoadingMore" && <p>Loading more…</p>}
      {status === "Exhausted" && <p>No older messages.</p>}
    </div>
  );
}

// Full-text search as you type: a live query like any other, so a new
// message that matches appears in the results while they are on screen.
function Search() {
  const [text, setText] = useState("");
  const words = text.trim();
  const found = useQuery(api.messages.search, words ? { channel: CHANNEL, text: words } : "skip") as
    | Message[]
    | undefined;
  return (
    <div data-testid="search" data-loaded={found !== undefined}>
      <h2>Search</h2>
      <input
        aria-label="Search messages"
        placeholder={`Search #${CHANNEL}`}
        value={text}
        onChange={(event) => setText(event.target.value)}
      />
      {words && found !== undefined && (
        found.length === 0 ? (
          <p>No matches.</p>
        ) : (
          <ul>
            {found.map((message) => (
              <li key={message._id}>
                <b>{message.author ?? "anonymous"}: </b>
                <span className="body">{message.body}</span>
              </li>
            ))}
          </ul>
        )
      )}
    </div>
  );
}
