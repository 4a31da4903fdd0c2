"""SAS transport v5: SDTM tables -> `.xpt` files and back (files: write and read; stages: the table as the file
will hold it; transport: the bytes; reader: any XPT v5/v8; damage: why a file
cannot be trusted)."""
