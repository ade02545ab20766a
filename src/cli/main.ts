#!/usr/bin/env node
// Placeholder entry until the serve command exists (issue D).
console.log('mtgate: the server is not implemented yet; see README.md for what exists.')
