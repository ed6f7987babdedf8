"""File storage: `ctx.storage` in functions, the upload and download routes,
and the folder the files live in."""
