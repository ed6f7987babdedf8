// The provider tree of the Clerk + Convex guide, pointed at livesync.
import { ClerkProvider, useAuth } from "@app/auth";
import { ConvexReactClient } from "convex/react";
import { ConvexProviderWithClerk } from "convex/react-clerk";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import "./style.css";
import { settings } from "./settings";

const convex = new ConvexReactClient(settings.convexUrl, {
  authRefreshTokenLeewaySeconds: settings.refreshLeewaySeconds,
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ClerkProvider publishableKey={settings.clerkPublishableKey ?? ""} afterSignOutUrl="/">
      <ConvexProviderWithClerk client={convex} useAuth={useAuth}>
        <App />
      </ConvexProviderWithClerk>
    </ClerkProvider>
  </StrictMode>,
);
