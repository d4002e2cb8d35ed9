module pyodo.local/supervisor

go 1.22
