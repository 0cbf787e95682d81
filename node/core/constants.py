"""Every tunable of the node in one place, each with the reason for its value."""

import re

# Untrusted archives (harvested from peers or uploaded). python-dwca-reader must never see
# one unchecked: it extracts `..` members and expands zip bombs (node.dwca.unpack checks).
MAX_ARCHIVE_BYTES = 2 * 1024**3  # refuse larger downloads before unpacking
MAX_UNPACKED_BYTES = 20 * 1024**3  # total unpacked size, whatever the ratio
MAX_UNPACK_RATIO = 200  # zip-bomb guard: unpacked / packed bytes, per member and in total
MAX_ARCHIVE_MEMBERS = 20_000  # GBIF downloads carry one EML per dataset; 200,000 is abuse
MAX_XML_BYTES = 16 * 1024**2  # meta.xml / eml.xml are read whole; cap before parsing
UNPACK_CHUNK_BYTES = 1024**2  # streaming copy size while enforcing the caps
STREAM_MEMBER_MIN_BYTES = 4 * 1024**2  # larger zip data files are parsed from the zip, not unpacked
MAX_DATA_COLUMNS = 1_024  # DwC has ~200 terms; 500k columns took a reader to 2.8 GB
MAX_LINE_BYTES = 1024**2  # the first row is read whole to count columns; pyarrow's block too

# Reading data files
CSV_BLOCK_BYTES = (
    1024**2
)  # pyarrow.csv block: 1 MiB measured fastest (decompression and parsing overlap)

# Writing archives
ARCHIVE_VERSIONS_KEPT = 5  # like the IPT's "number of archived versions"
ARCHIVE_BATCH_ROWS = 65_536  # rows turned into archive text at once: vectorised, flat memory
PUBLISH_GROUP_ROWS = 16_384  # source rows per table on their way to be published: bounds RSS
# Rows per Parquet row group: fewer groups keep the metadata held by writers and readers
# flat as files grow; more rows per group cost more memory to gather, write and read one.
ROW_GROUP_ROWS = 65_536
EML_MAX_TAXA = 500  # taxonomicCoverage entries; longer lists bloat eml.xml and help nobody
DIFF_MEMORY_LIMIT = "64MB"  # DuckDB spills id checks and version joins beyond: 5M rows +8% RSS
# A version join of 5M ids (35 bytes each) a side fits the cap above and 6.7M does not; a
# bigger join is split into passes over buckets of ids of about this estimated size.
DIFF_BUCKET_BYTES = 256 * 1024**2
DIFF_ROW_BYTES = 48  # per id in the estimate, besides the id's own bytes

# Wire protocol
SIGNATURE_MAX_AGE_S = 300  # RFC 9421 `created` window against replay
HTTP_TIMEOUT_S = 60  # socket read timeout: a peer silent this long is gone
METADATA_TIMEOUT_S = 30  # wall clock for one listing or error body: they are a few KB
METADATA_DEADLINE_S = 120  # all attempts at one listing together, back-off included
DOWNLOAD_TIMEOUT_S = 3600  # an archive download may legitimately take long on slow links
DOWNLOAD_DEADLINE_S = 2 * 3600  # all attempts at one archive together: a trickle ends
MAX_LISTING_BYTES = 1024**2  # a listing entry is ~400 bytes: room for 2,500 datasets
MAX_LISTED_DATASETS = 1_000  # more from one peer is abuse; the listing is refused whole
MAX_ERROR_BODY_BYTES = 4 * 1024  # an error body is read for its one-line detail only
DEFAULT_PORT = 8701
WELL_KNOWN_PATH = "/.well-known/fednode"
SIGNATURE_HEADER = "Fednode-Signature"
AUDIT_HEAD_HEADER = "Fednode-Audit-Head"  # the sender's signed audit head, on every archive
AUDIT_CHECKPOINT_S = 3600  # how often the daemon signs its audit head besides at exports
PURPOSE_HEADER = "Fednode-Purpose"  # the requester's declared purpose, covered by its signature
# A purpose, allowed by a flow or declared by a request: one lower-case word ("research",
# "conservation", "non-commercial"), so matching is exact and a header cannot carry a list.
PURPOSE_WORD = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
PEER_RATE_LIMIT_PER_MIN = 120  # per authenticated peer; archive builds are expensive
SIGNATURE_CLOCK_SKEW_S = 30  # accept a `created` this far in the future: servers drift
ANONYMOUS_RATE_LIMIT_PER_MIN = 60  # per address, for unsigned or unverified requests
MAX_CONNECTIONS = 4_096  # open client connections; also kept below RLIMIT_NOFILE - headroom
CONNECTIONS_PER_CLIENT = 64  # one address cannot take every slot (trusted proxies exempt)
FD_HEADROOM = 256  # descriptors kept free of connections for the store, SQLite and logs
HEADER_TIMEOUT_S = 10.0  # a connection must send a request's headers within this
KEEPALIVE_TIMEOUT_S = 15.0  # an idle keep-alive connection is closed after this
MAX_JSON_DEPTH = 32  # request bodies are small flat objects; deeper nesting is abuse
MAX_REQUEST_BYTES = 2 * 1024**2  # request bodies (413 beyond): agreements and signatures
SIGNATURE_NONCE_BYTES = 16  # 128 random bits per request, so a repeated nonce means a replay

# Harvesting
HARVEST_RETRIES = 4  # attempts on 5xx / 429 / connection errors before giving up
HARVEST_BACKOFF_BASE_S = 1.0  # exponential back-off: base * 2**attempt, plus jitter
HARVEST_BACKOFF_MAX_S = 60.0
CIRCUIT_FAILURES = 5  # consecutive failed runs before a peer's circuit opens
CIRCUIT_OPEN_S = 3600  # how long an open circuit skips a peer
GBIF_API_URL = "https://api.gbif.org/v1"
GBIF_SEARCH_PAGE = 300  # the API's maximum `limit`
GBIF_SEARCH_MAX_OFFSET = 100_000  # GBIF refuses deeper paging: use downloads beyond it
GBIF_MIN_INTERVAL_S = 1.0  # about one request a second, as GBIF asks of clients
GBIF_DOWNLOAD_POLL_S = 30.0
GBIF_HTTP_TIMEOUT_S = 60.0  # one API call; search pages answer in about a second
GBIF_DOWNLOAD_MAX_WAIT_S = 6 * 3600.0  # large downloads queue for hours; the next run resumes
GBIF_DOWNLOAD_FORMAT = "SIMPLE_PARQUET"  # typed columns, smallest file; DWCA adds verbatim.txt
GBIF_DOWNLOAD_BATCH_ROWS = 65_536  # Parquet rows converted at a time: flat memory on big files
GBIF_MATCH_MIN_CONFIDENCE = 80  # GBIF's own floor for accepting a name match (matching-ws)
CONFIG_WATCH_S = 5  # how soon the daemon schedules peers added to node.toml while it runs
SCHEDULE_JITTER_S = 30  # spread runs of many nodes so they do not hit a peer at once

# Exports (node/export/build.py)
EXPORT_BATCH_ROWS = 65_536  # rows read and written at once (one row group): ~150 MB peak each
EXPORT_MAX_ROWS_PER_FILE = 2_000_000  # Spark/Trino split work by file; ~100 MB files
EXPORT_VERSIONS_KEPT = 2  # the previous export stays so a reader mid-scan can finish
EXPORT_WORKERS = 4  # partitions written at once (capped by CPUs); each holds one batch in memory

# Store
STATE_DB = "state.sqlite"
DEFAULT_HOME = "./node-data"
HOME_ENV = "FEDNODE_HOME"

# Agreements
AGREEMENT_MAX_BYTES = 1024**2  # an agreement is a page of TOML; refuse to parse more
NAMES_LIST_MAX_BYTES = 16 * 1024**2  # pinned names lists are read whole; national lists ~1 MB
GRID_EDGE_TOLERANCE_DECIMALS = 6  # within 1e-6 cell of an edge is on it: absorbs binary noise
PREVIEW_EXAMPLES = 3  # example rows per flow that `fednode agreement check` shows

# Institutions' source files and validation reports
ENCODING_SAMPLE_BYTES = 256 * 1024  # text fed to charset-normalizer: enough for a verdict, fast
ENCODING_SCAN_BYTES = 64 * 1024**2  # look this far for the first non-ASCII byte to sample
SNIFF_ROWS = 50  # rows read to choose the delimiter and find the header row
XLSX_BATCH_ROWS = 50_000  # openpyxl yields Python rows; batch them into Arrow tables
VALIDATION_EXAMPLES_PER_KIND = 10  # as GBIF's validator: counts are exact, examples sampled
VALIDATION_MEMORY_LIMIT = "64MB"  # DuckDB spills id uniqueness checks beyond this: flat RSS
VALIDATION_INSERT_ROWS = 200_000  # ids buffered per DuckDB insert: each insert commits, costly

# Taxon name reconciliation (mappings/reconcile.py)
RECONCILE_FUZZY_MAX_EDITS = 2  # per name, on epithet stems; GNverifier: more is mostly noise
RECONCILE_FUZZY_LONG_EPITHET = 10  # stem letters from which an epithet may take 2 edits (GBIF: >10)
RECONCILE_FUZZY_MIN_GENUS_LETTERS = 5  # shorter genera are never matched with a misspelling
RECONCILE_REVIEW_BELOW = 0.8  # rows under this confidence go first in the curator's review.csv
RECONCILE_GENUS_TRANSFER_MIN_LINKS = 2  # one basionym link across genera is chance; two, a transfer
