// Every ```cpp block in README.md and docs/*.md must appear verbatim in a file under
// examples/ (which CI compiles and runs), so documented code cannot rot.
// Usage: check_snippets <source root>. Exit 0 when every block is found and there is >= 1.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

static std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: check_snippets <source root>\n";
    return 2;
  }
  const fs::path root = argv[1];
  std::string corpus;
  for (const auto& e : fs::directory_iterator(root / "examples"))
    if (e.path().extension() == ".cpp") corpus += slurp(e.path()) + "\n";

  std::vector<fs::path> docs{root / "README.md"};
  for (const auto& e : fs::directory_iterator(root / "docs"))
    if (e.path().extension() == ".md") docs.push_back(e.path());

  int blocks = 0, missing = 0;
  for (const auto& doc : docs) {
    std::istringstream in(slurp(doc));
    std::string line, block;
    bool inside = false;
    int start = 0, n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (!inside && line == "```cpp") {
        inside = true;
        block.clear();
        start = n;
      } else if (inside && line == "```") {
        inside = false;
        ++blocks;
        if (corpus.find(block) == std::string::npos) {
          std::cerr << doc.string() << ":" << start << ": this cpp block is not in any examples/*.cpp\n";
          ++missing;
        }
      } else if (inside) {
        block += line + "\n";
      }
    }
    if (inside) {
      std::cerr << doc.string() << ":" << start << ": unterminated cpp block\n";
      ++missing;
    }
  }
  std::cout << blocks << " cpp blocks checked, " << missing << " missing\n";
  return (blocks > 0 && missing == 0) ? 0 : 1;
}
