// `kestrel serve` end to end: the binary started with --port 0, asked with
// curl (/usr/bin/curl) over HTTP; results against the C++ API's run on the
// same inputs, every error code answered and the server still serving after
// it, SIGTERM finishing the request in flight and exiting 0. Bad repository
// layouts are one error line.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <kestrel/kestrel.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_test_util.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A `kestrel serve` child process, killed if a test leaves it running.
class ServerProcess {
 public:
  ServerProcess(const std::string& args, const std::string& dir) {
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      const std::string command =
          "exec " + std::string(KESTREL_CLI_PATH) + " serve " + args + " 2>" + dir + "/serve.err";
      execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    port_ = read_port(out[0]);
    close(out[0]);
  }
  ~ServerProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

  // SIGTERM, then the exit status (-1: still running after `limit`).
  int terminate(std::chrono::seconds limit = 20s) {
    kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }

 private:
  // The port of "kestrel serve: listening on http://HOST:PORT".
  static int read_port(int fd) {
    std::string text;
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < until && text.find('\n') == std::string::npos) {
      pollfd poll_fd{fd, POLLIN, 0};
      if (poll(&poll_fd, 1, 100) <= 0) continue;
      char buffer[256];
      const ssize_t n = read(fd, buffer, sizeof(buffer));
      if (n <= 0) break;
      text.append(buffer, static_cast<size_t>(n));
    }
    const std::string marker = "listening on http://127.0.0.1:";
    const size_t at = text.find(marker);
    return at == std::string::npos ? -1 : std::stoi(text.substr(at + marker.size()));
  }

  pid_t pid_ = -1;
  int port_ = -1;
  bool reaped_ = false;
};

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// curl ARGS URL: the status code and body.
HttpAnswer curl(const std::string& args, const std::string& url) {
  const CliResult result = run_shell("/usr/bin/curl -s -w '\\n%{http_code}' " + args + " '" + url + "'");
  HttpAnswer answer;
  const size_t newline = result.output.rfind('\n');
  if (newline == std::string::npos) return answer;
  answer.body = result.output.substr(0, newline);
  answer.status = std::atoi(result.output.c_str() + newline + 1);
  return answer;
}

HttpAnswer post_file(const ServerProcess& server, const std::string& path, const std::string& file,
                     const std::string& headers = "-H 'Content-Type: application/json'") {
  return curl(headers + " --data-binary @" + file, server.url(path));
}

std::string write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::vector<float> test_image(int64_t rows) {
  std::vector<float> image(static_cast<size_t>(rows) * 28 * 28);
  for (size_t i = 0; i < image.size(); ++i) image[i] = static_cast<float>((i * 7) % 13) * 0.1f - 0.5f;
  return image;
}

std::string infer_json(const std::vector<float>& image, int64_t rows, const std::string& id) {
  return json{{"id", id},
              {"inputs", {{{"name", "input"}, {"datatype", "FP32"}, {"shape", {rows, 1, 28, 28}}, {"data", image}}}}}
      .dump();
}

// The bundled CNN converted to run any batch 1..4.
std::string convert_cnn(const std::string& dir) {
  std::string model = dir + "/cnn.kestrel";
  const CliResult converted =
      run_cli("convert --model " + source_path("models/fmnist_cnn.onnx") + " --output " + model + " --max-batch 4");
  EXPECT_EQ(converted.exit_code, 0) << converted.output;
  return model;
}

// The C++ API's logits for `image` (rows of it) on the same model.
std::vector<float> api_logits(const std::string& model_path, const std::vector<float>& image, int64_t rows) {
  const api::Model model = api::Model::load(model_path);
  api::Session session(model);
  const std::vector<int64_t> in_shape = {rows, 1, 28, 28};
  const std::vector<int64_t> out_shape = {rows, 10};
  std::vector<float> logits(static_cast<size_t>(rows) * 10);
  const api::Tensor inputs[] = {{"input", in_shape, image}};
  api::Tensor outputs[] = {{"logits", out_shape, logits}};
  session.run(inputs, outputs);
  return logits;
}

TEST(ServeCli, RefusesBadRepositoriesWithOneLine) {
  namespace fs = std::filesystem;
  const std::string dir = scratch_dir();
  fs::create_directories(dir + "/empty");
  expect_clean_error(run_cli("serve --port 0 --model-repository " + dir + "/empty"),
                     {"empty", "holds no model folder"});
  fs::create_directories(dir + "/two/m/1");
  write_file(dir + "/two/m/1/a.kestrel", "x");
  write_file(dir + "/two/m/1/b.kestrel", "x");
  expect_clean_error(run_cli("serve --port 0 --model-repository " + dir + "/two"), {"two/m/1", "2 .kestrel files"});
  fs::create_directories(dir + "/bad/m/3");
  write_file(dir + "/bad/m/3/model.kestrel", "not a model file");
  expect_clean_error(run_cli("serve --port 0 --model-repository " + dir + "/bad"),
                     {"cannot load model 'm' version 3", "bad/m/3/model.kestrel"});
  expect_clean_error(run_cli("serve --port 0"), {"--model-repository", "--model"});
}

TEST(ServeCli, AnswersTheProtocolOverHttp) {
  const std::string dir = scratch_dir();
  const std::string model = convert_cnn(dir);
  ServerProcess server("--model " + model + " --name cnn --port 0 --max-request-bytes 200000", dir);
  ASSERT_GT(server.port(), 0) << "no listening line";

  EXPECT_EQ(curl("", server.url("/v2/health/live")).status, 200);
  EXPECT_EQ(curl("", server.url("/v2/health/ready")).status, 200);
  const HttpAnswer metadata = curl("", server.url("/v2"));
  EXPECT_EQ(json::parse(metadata.body)["extensions"],
            json({"binary_tensor_data", "model_configuration", "statistics", "model_repository"}));
  const json model_metadata = json::parse(curl("", server.url("/v2/models/cnn")).body);
  EXPECT_EQ(model_metadata["platform"], "kestrel");
  EXPECT_EQ(model_metadata["inputs"][0]["shape"], json({-1, 1, 28, 28}));
  EXPECT_EQ(model_metadata["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(curl("", server.url("/v2/models/cnn/versions/1/ready")).status, 200);
  EXPECT_EQ(curl("", server.url("/v2/models/cnn/versions/2")).status, 404);

  const std::vector<float> image = test_image(2);
  const std::string good = write_file(dir + "/good.json", infer_json(image, 2, "req-7"));
  const HttpAnswer answer = post_file(server, "/v2/models/cnn/infer", good);
  ASSERT_EQ(answer.status, 200) << answer.body;
  const json response = json::parse(answer.body);
  EXPECT_EQ(response["id"], "req-7");
  EXPECT_EQ(response["model_name"], "cnn");
  EXPECT_EQ(response["outputs"][0]["shape"], json({2, 10}));
  EXPECT_EQ(response["outputs"][0]["data"].get<std::vector<float>>(), api_logits(model, image, 2));

  // Each malformed request gets its code; the server answers the next good one.
  const std::vector<std::pair<std::string, int>> bad = {
      {"{\"inputs\": [", 400}, {infer_json(test_image(5), 5, "too-big"), 400}, {std::string(300000, ' '), 413}};
  for (const auto& [body, status] : bad) {
    const HttpAnswer refused = post_file(server, "/v2/models/cnn/infer", write_file(dir + "/bad.json", body));
    EXPECT_EQ(refused.status, status) << refused.body;
    EXPECT_TRUE(json::parse(refused.body).contains("error")) << refused.body;
    EXPECT_EQ(post_file(server, "/v2/models/cnn/infer", good).status, 200);
  }
  EXPECT_EQ(post_file(server, "/v2/models/nope/infer", good).status, 404);
  const HttpAnswer metrics = curl("", server.url("/metrics"));
  EXPECT_NE(metrics.body.find("nv_inference_request_success{model=\"cnn\",version=\"1\"} 4"), std::string::npos)
      << metrics.body;
  // The 413 never reached the model: refused while reading the body.
  EXPECT_NE(metrics.body.find("nv_inference_request_failure{model=\"cnn\",version=\"1\"} 2"), std::string::npos);
  EXPECT_EQ(server.terminate(), 0);
}

TEST(ServeCli, SigtermFinishesTheRequestInFlight) {
  const std::string dir = scratch_dir();
  const std::string model = convert_cnn(dir);
  // A one-row request waits up to 1.5 s for its batch to fill: in flight when the signal comes.
  ServerProcess server("--model " + model + " --name cnn --port 0 --max-queue-delay-us 1500000", dir);
  ASSERT_GT(server.port(), 0) << "no listening line";
  const std::vector<float> image = test_image(1);
  const std::string body = write_file(dir + "/one.json", infer_json(image, 1, "last"));
  HttpAnswer answer;
  std::thread client([&] { answer = post_file(server, "/v2/models/cnn/infer", body); });
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until &&
         curl("", server.url("/metrics")).body.find("kestrel_queue_depth{model=\"cnn\",version=\"1\"} 1") ==
             std::string::npos) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(server.terminate(), 0);
  client.join();
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(json::parse(answer.body)["outputs"][0]["data"].get<std::vector<float>>(), api_logits(model, image, 1));
}

}  // namespace
}  // namespace kestrel::testing
