# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SAMPLE_DIR := var/sample-run
NEWSDESK := $(VENV)/bin/newsdesk
SHARED ?= ../shared/data
EVALS := var/evals
MODEL_DIR := var/models/minilm-news

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install browser run test lint sample sentiment-model sentiment-adapter pair-verifier embeddings evals clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned to the CPU build, so sentence-transformers never pulls CUDA wheels.
	$(PY) -m pip install --quiet torch==2.13.0
	# llama-cpp-python compiles from source here (about 5 minutes on two cores). A portable
	# build (AVX2, no AVX-512 or AMX): the native build crashed in its AMX kernel
	# (ggml_backend_amx_mul_mat, SIGSEGV) on a Xeon that reports AMX. No cache, so a native
	# wheel built earlier is not reused.
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PY) -m pip install --quiet --no-cache-dir "llama-cpp-python[server]>=0.3"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Replays the bundled real sample end to end with the local SmolLM2 server.
run: install
	rm -rf $(SAMPLE_DIR)
	NEWSDESK_DATA_DIR=$(SAMPLE_DIR) $(VENV)/bin/newsdesk run --report $(SAMPLE_DIR)/run_report.json

# The web desk's browser test drives Debian's chromium (never a downloaded browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium is missing: the browser test will skip (sudo apt-get install chromium)"; fi; }

test: install browser
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .

# Rebuild the committed artifacts from ../shared/data (deterministic).
sample: install
	$(PY) -m evals.build_sample

sentiment-model: install
	$(PY) -m evals.train_sentiment

# The committed LoRA adapter (tools/data/sentiment_adapter); about 20 minutes on two cores.
sentiment-adapter: install
	$(PY) -m evals.train_sentiment_model --threads 1 --epochs 3

# The committed dedup pair verifier (tools/data/pair_verifier); about 35 minutes on two cores.
pair-verifier: install
	$(PY) -m evals.train_pair_verifier --epochs 3

# Fine-tuned dedup embeddings in var/models/minilm-news, with before/after reports and plots.
embeddings: install
	$(VENV)/bin/newsdesk finetune-embeddings --out $(MODEL_DIR)

# Every eval on the shared data's held-out parts, then one HTML page: var/evals/report.html.
evals: install
	$(NEWSDESK) eval sentiment --data $(SHARED)/twitter_financial_news_sentiment/sent_train.csv \
	    --text-field text --label-field label --label-map 0=bearish,1=bullish,2=neutral \
	    --split twitter-heldout --analyzers lexicon,embedding_logreg,classifier,ensemble \
	    --report $(EVALS)/sentiment_twitter_heldout.json
	$(NEWSDESK) eval sentiment --data $(SHARED)/financial_phrasebank/fpb_dev.csv \
	    --text-field sentence --label-field label --split fpb-heldout \
	    --analyzers lexicon,embedding_logreg,classifier,ensemble \
	    --report $(EVALS)/sentiment_fpb_heldout.json
	$(NEWSDESK) eval sentiment --data $(SHARED)/twitter_financial_news_sentiment/sent_train.csv \
	    --text-field text --label-field label --label-map 0=bearish,1=bullish,2=neutral \
	    --split twitter-heldout --limit 200 --report $(EVALS)/sentiment_twitter_heldout_llm200.json
	test -d $(MODEL_DIR)/eval || $(MAKE) embeddings
	cp $(MODEL_DIR)/eval/*.json $(MODEL_DIR)/eval/*.png $(EVALS)/
	$(NEWSDESK) eval impact --report $(EVALS)/impact.json
	$(NEWSDESK) eval events --report $(EVALS)/events.json
	$(NEWSDESK) eval tagging --report $(EVALS)/tagging.json
	$(NEWSDESK) eval html --reports $(EVALS)

clean:
	rm -rf var .pytest_cache .ruff_cache
