// audiosim models list|show|check: the models audiosim can find, their sidecars, their contract.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "model/backend.hpp"
#include "model/check.hpp"
#include "model/spec.hpp"
#include "report/table.hpp"
#include "util/error.hpp"

namespace audiosim::cli {
namespace {

struct ModelsOptions {
    std::string model;
    std::string device = "cpu";
    std::string precision = "fp32";
};

const std::vector<std::string> model_columns = {"name", "version", "id", "sample_rate", "window_seconds",
                                                "embedding_dim", "normalized", "text_tower", "sidecar"};

std::vector<nlohmann::json> model_row(const ModelSpec& m) {
    return {m.name, m.version, m.id(), m.sample_rate, m.window_seconds, m.embedding_dim, m.normalized, m.has_text_tower,
            m.sidecar_path};
}

int run_list(const GlobalOptions& global) {
    TableWriter table(std::cout, parse_table_format(global.format.empty() ? "tsv" : global.format), model_columns);
    for (const ModelSpec& model : list_models()) table.row(model_row(model));
    return exit_ok;
}

int run_show(const ModelsOptions& options, const GlobalOptions& global) {
    ModelSpec model = find_model(options.model);
    TableWriter table(std::cout, parse_table_format(global.format.empty() ? "tsv" : global.format),
                      {"field", "value"});
    auto row = model_row(model);
    for (size_t i = 0; i < model_columns.size(); ++i) table.row({model_columns[i], row[i]});
    table.row({"weights", model.weights_path});
    table.row({"license", model.license});
    table.row({"source", model.source});
    return exit_ok;
}

int run_check(const ModelsOptions& options, const GlobalOptions& global) {
    ModelSpec model = find_model(options.model);
    auto runner = torch_backend(options.device)
                      .load(model.weights_path, options.device, static_cast<int>(resolve_threads(global.threads)), options.precision);
    std::vector<ContractCheck> checks = check_model_contract(model, *runner);
    TableWriter table(std::cout, parse_table_format(global.format.empty() ? "tsv" : global.format), {"check", "result", "detail"});
    std::string failed;
    for (const ContractCheck& check : checks) {
        table.row({check.name, check.passed ? "ok" : "FAILED", check.detail});
        if (!check.passed) failed += (failed.empty() ? "" : ", ") + check.name;
    }
    table.finish();
    if (!failed.empty())
        throw Error(ErrorKind::model, fmt::format("{} breaks the model contract: {} (models/README.md)", model.id(), failed));
    if (global.verbosity >= 1) fmt::print(stderr, "audiosim models: {} keeps the contract on {}\n", model.id(), runner->device());
    return exit_ok;
}

}  // namespace

Runner setup_models(CLI::App& app) {
    auto options = std::make_shared<ModelsOptions>();
    app.require_subcommand(1);
    CLI::App* list = app.add_subcommand("list", "The models found (AUDIOSIM_MODEL_PATH, share/audiosim/models, models/)");
    CLI::App* show = app.add_subcommand("show", "A model's sidecar fields and id");
    CLI::App* check = app.add_subcommand("check", "Check a model against the model contract");
    for (CLI::App* sub : {show, check}) {
        sub->fallthrough();
        sub->add_option("model", options->model, "Model name, sidecar (.json) or weights (.pt) path (default: audiosim-dsp)");
    }
    list->fallthrough();
    add_device_option(*check, options->device, "Where the check runs (default cpu)");
    check->add_option("--precision", options->precision, "fp32 (default), bf16, fp16 (autocast)");
    return [options, list, show](const GlobalOptions& global) {
        if (list->parsed()) return run_list(global);
        if (show->parsed()) return run_show(*options, global);
        return run_check(*options, global);
    };
}

}  // namespace audiosim::cli
