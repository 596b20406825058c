// English strings of the one-time-token page. Each page imports the groups it
// shows, so its bundle carries no other page's strings (see i18n.ts); German: i18n-de.ts.

import { addStrings } from "./i18n";

export const ott = {
  "ott.heading": "Invite someone",
  "ott.intro": "Create a link that lets one person share one secret, with your upload limit.",
  "ott.token": "Your access token",
  "ott.token.hint": "Only sent to this server, to authorize the invitation.",
  "ott.submit": "Create invite link",
  "ott.result": "Invite links",
  "ott.result.intro": "Each link works once and expires. Send it to the person you invite.",
  "ott.link": "Invite link {n}",
  "ott.err.missing": "Enter your access token.",
  "ott.err.refused": "This token may not create invitations (unknown, expired, or itself a one-time token).",
};

addStrings(ott);
