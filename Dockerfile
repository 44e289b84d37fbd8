# A grading container for tutors on macOS and Windows (or any machine without bubblewrap).
#
# The grader runs every submission in a bubblewrap sandbox, which needs Linux
# namespaces; Docker Desktop's Linux VM has them. Build once, then grade a
# course folder holding solutions/ and submitted/ (see docs/teaching.md,
# "Grading safely"):
#
#   docker build -t labkit-grader .
#   docker run --rm --cap-add SYS_ADMIN --security-opt apparmor=unconfined \
#       --security-opt seccomp=unconfined -v "$PWD/course:/course" labkit-grader \
#       submitted/ --solutions solutions/ --out grades.csv --feedback feedback/ --jobs 2 --require-sandbox
#
# SYS_ADMIN and the two security options let bubblewrap create its namespaces
# inside the container (the container's own defaults forbid mount and unshare);
# --require-sandbox makes the grader stop rather than grade unsandboxed if
# they are missing. Only the course folder is shared with the container.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap util-linux \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/labkit
COPY pyproject.toml README.md ./
COPY labkit ./labkit
COPY data ./data
RUN pip install --no-cache-dir -e . \
 && python -c "import labkit.grade, labkit.sandbox"

ENV TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /course
ENTRYPOINT ["python", "-m", "labkit.grade"]
CMD ["--help"]
