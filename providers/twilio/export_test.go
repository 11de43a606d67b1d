package twilio

// SignedString exposes signedString to the external tests, which check that a
// mutation the signature cannot see leaves the signed string unchanged.
var SignedString = signedString
