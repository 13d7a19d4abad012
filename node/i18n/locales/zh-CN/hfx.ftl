# hfx 的简体中文消息。每个 id 也在 ../en/hfx.ftl 中（单元测试检查）。
# 数据标准（JGJ/T 320）和全国平台的代码写在名称旁边，不翻译。

## 词语

yes = 是
no = 否
coded = { $name } ({ $code })
none = --

## 日期和时间：北京时间（UTC+8）

date = { $year }年{ $month }月{ $day }日
month = { $year }年{ $month }月
date-time = { $date } { $time }（北京时间）
date-time-bare = { $date } { $time }
range = { $from } 至 { $to }
duration-days = { $n }天
duration-hours = { $n }小时
duration-minutes = { $n }分
duration-seconds = { $n }秒
duration-separator = {""}

## 个人账户状态（A.6）

account-status-01 = 正常
account-status-02 = 封存
account-status-03 = 合并销户
account-status-04 = 外部转出销户
account-status-05 = 提取销户
account-status-06 = 冻结
account-status-99 = 其他
account-status-unknown = 未知状态

## 交换目的

purpose-identity_confirmation = 身份核验
purpose-duplicate_account_check = 重复开户核查
purpose-transfer_check = 转移接续核查
purpose-loan_application = 异地贷款缴存使用证明
purpose-loan_check = 贷款核查
purpose-unknown = 未知目的
purpose-fields-identity_confirmation = 是否有在用账户及脱敏姓名
purpose-fields-duplicate_account_check = 是否有在用账户、账户状态、开户年月
purpose-fields-transfer_check = 账户、状态、余额、缴至年月、缴至年月前连续缴存六个月标志
purpose-fields-loan_application = 缴存使用证明各项、脱敏姓名和证件号码
purpose-fields-loan_check = 作为借款人或共同借款人的贷款、余额和逾期情况
purpose-fields-unknown = （未知）

## 归集和提取业务类型

business-type-01 = 汇缴
business-type-02 = 补缴
business-type-03 = 开户
business-type-04 = 启封
business-type-05 = 封存
business-type-06 = 内部转移
business-type-07 = 外部转出
business-type-08 = 外部转入
business-type-09 = 年终结息
business-type-10 = 基数调整
business-type-11 = 部分提取
business-type-12 = 销户提取
business-type-13 = 缓缴
business-type-14 = 冻结
business-type-15 = 解冻
business-type-99 = 其他
business-type-unknown = 未知业务类型

## 交换结果（信息披露记录）

outcome-disclosed = 已提供
outcome-received = 已答复
outcome-refused = 已拒绝
outcome-failed = 失败
outcome-not-found = 查无此人
outcome-with-reason = { $outcome }：{ $reason }

## 信息披露记录的方向

direction-sent = 已提供
direction-received = 已获答复
direction-asked = 已查询，未获答复
direction-refused = 已拒绝

## 中心

centre-short = { $city } ({ $code })
centre-full = { $city } { $name } ({ $code })

## hfx member query

query-answered = { $centre } 已答复（目的：{ $purpose }）：
query-name = 姓名
query-id-number = 证件号码
query-live-account = 在用账户
query-status = 账户状态
query-account-no = 个人账号
query-opened = 开户日期
query-paid-up-to = 缴至年月
query-deposit-base = 缴存基数
query-rates = 缴存比例（单位 / 个人）
query-monthly = 月缴存额
query-balance = 账户余额
query-continuous = 连续缴存
query-six-months = 连续缴存六个月
query-frozen = 冻结
query-has-loan = 有未结清贷款
query-loans = 贷款笔数
query-borrowed = 累计贷款金额
query-outstanding = 贷款余额
query-employer = 单位名称
query-our-receipt = 本方回执
query-their-receipt = 对方回执
query-receipt = 日志序号 { $index }
query-receipt-at = { $centre } 日志序号 { $index }

## hfx status

status-head = { $centre }（hfx { $version }）
status-directory = 目录版本 { $version }，有效期至 { $expires }
status-log = 交换日志 { $entries } 条；存储 { $store }；核心系统 { $adapter }；已运行 { $uptime }
status-witness = 最新检查点 { $checkpoint }；已见证（达到法定数）至 { $witnessed }；保存的见证证据：{ $evidence }
status-lease = 租约 { $lease }；维护模式 { $maintenance }
status-maintenance-on = 开启（拒绝对端请求）
status-maintenance-off = 关闭

## hfx disclosures、hfx audit disclosures

disclosures-report-head = 缴存职工 { $member } 在 { $centre } 的个人信息处理记录（个人信息保护法第四十五条）
disclosures-report-count = 共 { $count } 条记录，最新的在前；时间为北京时间（UTC+8）。
disclosures-report-empty = 没有中心获得过该职工的任何信息，也没有中心查询过。
disclosures-meaning-sent = 已向 { $peer } 提供：{ $fields }
disclosures-meaning-received = { $own } 查询了 { $peer }，获得：{ $fields }
disclosures-meaning-asked = { $own } 查询了 { $peer }，未获得任何信息（{ $outcome }）
disclosures-meaning-refused = { $peer } 查询；{ $own } 拒绝，未提供任何信息
disclosures-meaning-other = 与 { $peer }：{ $direction }
disclosures-detail = 目的 { $purpose } · 法律依据 { $basis } · 结果 { $outcome } · 经办人 { $person }
disclosures-basis = 法律依据：{ $basis }
disclosures-none = 没有符合条件的信息披露记录
this-centre = 本中心

## hfx loan check

loan-check-head = { $name } { $id } 的贷款核查：{ $total } 个中心中 { $answered } 个在 { $elapsed } 毫秒内答复（时限 { $deadline } 毫秒）
loan-check-own = （本中心）
loan-check-answered = 已答复：{ $count } 笔贷款
loan-check-unanswered = { $outcome }：{ $detail }（{ $reason }）—— 贷款情况未知
loan-check-hedged = 已发送备份请求
loan-check-loan = { $contract } { $role }，发放日期 { $issued }，合同金额 { $amount }，贷款余额 { $outstanding }，逾期 { $periods } 期 { $overdue }，{ $status }
loan-check-settled = 结清日期 { $date }
loan-check-incomplete = 核查不完整：上面未答复的中心可能有此人的贷款
loan-outcome-answered = 已答复
loan-outcome-down = 无法连接
loan-outcome-slow = 超时未答复
loan-outcome-refused = 已拒绝
loan-outcome-failed = 失败
loan-outcome-unspecified = 未知
loan-role-borrower = 借款人
loan-role-co_borrower = 共同借款人
loan-role-unspecified = 未知角色
loan-status-normal = 正常
loan-status-overdue = 逾期
loan-status-settled = 已结清
loan-status-written_off = 已核销
loan-status-unspecified = 未知状态

## hfx transfer

transfer-state-letter_sent = 联系函已发出
transfer-state-letter_received = 联系函已送达
transfer-state-accepted = 已受理
transfer-state-held = 余额已冻结
transfer-state-paid = 已划款
transfer-state-closed = 已转出销户
transfer-state-releasing = 正在解除冻结
transfer-state-out_received = 已收到转出信息
transfer-state-crediting = 正在入账
transfer-state-negotiating = 协商中
transfer-state-done = 已办结
transfer-state-negotiated_done = 协商后办结
transfer-state-refused = 已拒绝
transfer-state-cancelled = 已撤销
transfer-state-failed = 失败
transfer-state-expired = 已过期
transfer-state-unknown = 未知状态
national-00 = 转移完成
national-01 = 联系函已审核
national-02 = 联系函已接收
national-05 = 已撤销
national-06 = 协商中
national-08 = 账户信息已核对
national-13 = 转出地拒绝
national-20 = 协商后办结
national-40 = 失败
national-unknown = 未知的全国平台代码
national-none = 尚无全国平台代码
transfer-role-destination = 转入地
transfer-role-origin = 转出地
transfer-wait-check = 审核
transfer-wait-reserve = 冻结余额
transfer-wait-payout = 划款
transfer-wait-close_out = 销户
transfer-wait-release = 解除冻结
transfer-wait-credit = 入账
transfer-wait-deliver = 发送消息
transfer-wait-query_peer = 询问对方中心
transfer-case = 业务编号
transfer-letter-no = 联系函编号
transfer-role = 本方角色
transfer-route = 转移路线
transfer-person = 缴存职工
transfer-state = 状态
transfer-national = 全国平台状态
transfer-state-final = { $state }，已终结
transfer-amount = 转移金额
transfer-amount-unknown = 尚不知道
transfer-amount-parts = { $amount }（本金 { $principal }，利息 { $interest }）
transfer-history = 缴存明细
transfer-history-months = 随转 { $months } 个月的缴存明细
transfer-account-here = 本地账号
transfer-bank-ref = 银行流水号
transfer-refusal-code = 拒绝代码
transfer-negotiation = 协商
transfer-stuck = 待人工处理
transfer-waiting-for = 等待
transfer-created = 创建时间
transfer-updated = 更新时间
transfer-timeline = 时间线（北京时间）：
transfer-col-case = 业务编号
transfer-col-letter = 联系函编号
transfer-col-role = 角色
transfer-col-peer = 对方中心
transfer-col-state = 状态
transfer-col-national = 全国平台状态
transfer-col-amount = 金额
transfer-col-updated = 更新时间
transfer-col-stuck = 待人工处理
transfer-none-stuck = 没有待人工处理的业务
transfer-none-all = 本中心没有转移业务
transfer-none-in-flight = 没有进行中的转移（--all 也列出已终结的业务）

## 错误：先说发生了什么、怎么办，再给出原因代码和节点的原文

error-line = 错误：{ $text }
error-explained = { $advice }（{ $status }）
error-cert-revoked = 节点拒绝了您的证书 { $file }{ $serial }：证书已被吊销；{ $fix }（{ $status }）
error-cert-expired = 节点拒绝了您的证书 { $file }{ $serial }：证书已于 { $date } 过期；{ $fix }（{ $status }）
error-cert-expired-unknown = 节点拒绝了您的证书 { $file }{ $serial }：证书已过期；{ $fix }（{ $status }）
error-cert-not-yet-valid = 节点拒绝了您的证书 { $file }{ $serial }：证书自 { $date } 起才生效；请检查本机时钟，或{ $fix }
error-cert-not-accepted = 节点拒绝了您的证书 { $file }{ $serial }：节点不接受该证书（{ $alert }），它是本联盟的证书吗？{ $fix }（{ $status }）
error-cert-serial = （序列号 { $serial }）
error-cert-fix = 请向联盟管理员申领新证书（`hfx certs person`），并用 --person 或 --cert 指定
reason-INVALID_FIELD = 输入的值无效：请按提示更正相应字段后重试。
reason-MEMBER_NOT_FOUND = 该中心没有此证件号码的缴存职工：请核对证件号码、证件类型和所查询的中心。
reason-NAME_MISMATCH = 姓名与该证件号码的缴存职工不符：请核对姓名写法。
reason-NOT_FOUND = 所查的对象在此不存在：请核对编号。
reason-UNAUTHENTICATED = 节点不认可您的身份：请使用本联盟的证书（--dir、--person 或 --cert）。
reason-PERMISSION_DENIED = 您无权执行此操作：如确需办理，请联系联盟管理员。
reason-ROLE_NOT_ALLOWED = 您证书的角色不能执行此操作：请使用该命令所需角色（经办、审计或运维）的证书。
reason-PURPOSE_NOT_ALLOWED = 联盟协议不允许向该中心以此用途查询：请选择允许的用途，或联系联盟管理员。
reason-RATE_LIMITED = 短时间内向该中心的此类查询过多：请稍候再试。
reason-PEER_UNAVAILABLE = 无法连接对方中心：请稍后重试，或告知对方运维人员。
reason-PEER_ERROR = 对方中心拒绝或出错：原因见代码后的说明。
reason-CORE_SYSTEM_ERROR = 核心业务系统返回错误：详情见本节点日志，请告知运维人员。
reason-CORE_SYSTEM_UNAVAILABLE = 核心业务系统暂时无法连接：请稍后重试，或告知运维人员。
reason-STORE_ERROR = 节点数据库出错：详情见本节点日志，请告知运维人员。
reason-FAILED_PRECONDITION = 当前状态下无法办理：缺少的条件见代码后的说明。
reason-UNIMPLEMENTED = 节点不提供此功能：节点的 hfx 版本是否较旧？
reason-INTERNAL = 节点内部出错：详情见本节点日志，请告知运维人员。
reason-MESSAGE_TOO_LARGE = 请求超过节点可接收的大小：请分批查询。
reason-UNDECODABLE_MESSAGE = 节点无法读取该请求：命令行与节点的 hfx 版本是否一致？
reason-PROTOCOL_ERROR = 请求不符合协议：命令行与节点的 hfx 版本是否一致？
reason-CERTIFICATE_REVOKED = 您的证书已被吊销：请向联盟管理员申领新证书。
reason-DEADLINE_PASSED = 对方中心答复超时并已放弃：请重试，或放宽时限。
reason-ACCOUNT_CLOSED = 该账户已销户，无法办理：请核对该职工的账户状态。
reason-ACCOUNT_FROZEN = 该账户已冻结，无法办理：须先解除冻结。
reason-ATTESTATION_INVALID = 缴存使用证明验证未通过：请向出具中心重新申请。
reason-NOT_WRITER = 该中心的此进程为备用进程：请使用该中心当前在用的地址。
reason-MAINTENANCE = 节点处于维护模式：请稍后重试，或执行 `hfx node maintenance off`。
reason-ACTING_PERSON_FOREIGN = 经办人不属于发起请求的中心：各中心只能代表本中心人员。
reason-TRANSFER_IN_FLIGHT = 此人在本中心已有进行中的转移：请跟进该业务（`hfx transfer list`）。
reason-TRANSFERS_DISABLED = 本节点不办理转移（未配置结算银行）：请告知运维人员。
reason-MOVE_NOT_ALLOWED = 业务当前状态不允许此操作：用 `hfx transfer status` 查看进度。
reason-LETTER_NUMBERS_EXHAUSTED = 今日联系函编号已用完：请明日再发起转移。
reason-CASE_UNKNOWN = 本中心没有该转移业务：请核对业务编号。
reason-CASE_NOT_YOURS = 该业务由另一中心保管：请向该中心查询。
reason-WRONG_SIDE = 本方不接收此类消息：请核对所在中心。
reason-OUT_OF_ORDER = 此消息所依赖的前一消息尚未到达：稍后会自动重发，无需处理。
reason-CASE_BUSY = 业务在此期间不断变化：请重试。
reason-DUP_SESSION_UNKNOWN = 重复账户核查会话不存在或已结束：请重新开始核查。
code-unavailable = 无法连接节点：节点是否在运行，地址是否正确（--dir、--endpoint）？
code-deadline = 未在时限内答复：请重试，或检查节点是否在运行。

## hfx transfer request、cancel、resolve：一行结果

transfer-state-code = { $state } ({ $code })
transfer-started = 已发起业务 { $case }：联系函 { $letter } 已发往 { $origin }
transfer-follow = 跟进进度：hfx transfer status { $case }
transfer-brief = 业务 { $case }（联系函 { $letter }）：{ $brief }
transfer-brief-waiting = 等待{ $what }
transfer-brief-stuck = 待人工处理：{ $why }
transfer-separator = ；
transfer-progress = 业务 { $case }：{ $state }
transfer-progress-waiting = 业务 { $case }：{ $state }，等待{ $what }
transfer-ended = 业务 { $case } 已终结：{ $state }
transfer-ended-refusal = 拒绝代码 { $code }
transfer-ended-detail = { $text }：{ $detail }
transfer-parked = 业务 { $case } 待经办人处理（{ $state }）：{ $reason }；等待{ $what }。请先查看 `hfx transfer status { $case }`，再执行 `hfx transfer resolve { $case } accept|retry`
transfer-parked-negotiation = 有待处理的协商
transfer-is = 业务 { $case } 当前为 { $state }
transfer-timed-out = 业务 { $case } 在 { $secs } 秒后仍为 { $state }，等待{ $what }；跟进进度：`hfx transfer status { $case }`

## 转移时间线中节点以固定措辞写下的说明（其余原样显示）

note-letter-accepted = 联系函已审核并接受
note-closed-out = 账户已销户（04，余额为 0，原因 07）；已发出划款通知
note-hold-released = 已解除冻结，账户已恢复
note-expired-never-received = 转出地在期限内未收到联系函（已过期）
note-negotiation-settled-here = 转入地经办人已完成协商：按实际划款金额入账
note-cancel-refused = 撤销未成功：转出地已接受
note-cancel-confirmed = 转出地已确认撤销
note-expired-tombstone = 转出地已将该业务记为过期
note-out-received = 已收到转出记录
note-out-received-after-cancel = 已收到转出记录（转出地在撤销前已接受）
note-origin-has-letter = 转出地已收到联系函
note-origin-accepted = 转出地已接受联系函
note-destination-credited = 转入地已入账 { $amount }
note-negotiated-credited = 协商已完成；转入地已入账 { $amount }
note-bank-paid = 银行已划款 { $amount }（流水号 { $ref }）
note-sealed-held = 账户已封存，冻结 { $amount }；已发出转出记录
note-payment-received = 已收到划款 { $amount }（流水号 { $ref }）
note-member-credited = 已为职工入账 { $amount }（业务类型 08，含缴存明细）
note-cancelled-by-destination = 转入地已撤销：{ $text }
note-destination-negotiates = 转入地发起协商：{ $text }
note-bank-declined = 银行拒绝划款：{ $text }
note-payout-failed = 转出地划款失败：{ $text }
note-cancel-requested = 已申请撤销：{ $text }
note-negotiation-opened = 已收到划款；已发起协商：{ $text }
note-origin-refused = 转出地拒绝：{ $text }
note-refused = 已拒绝：{ $text }
note-hold-refused = 冻结被拒：{ $text }；正在解除该业务的冻结

## hfx reload、hfx node maintenance、hfx witness evidence

reload-directory = 目录：{ $ok }（生效版本 { $version }）
reload-tls = 证书与吊销列表：{ $ok }
reload-ok = 正常
reload-refused = 已拒绝
maintenance-on = { $centre }：维护模式已开启：对方中心的请求一律拒绝（UNAVAILABLE, MAINTENANCE），直到执行 `hfx node maintenance off` 或重启
maintenance-off = { $centre }：维护模式已关闭：正常服务（{ $lease }）
witness-none = 没有保存任何违规证据
witness-evidence = { $at } { $kind } { $centre }：{ $detail }（由 { $by } 发现）

## hfx adapter check

adapter-head = 中心 { $centre } 的核心系统适配器 { $kind }（{ $config }）
adapter-ok = 通过
adapter-fail = 失败
adapter-all-passed = 全部检查通过
adapter-failed = 未通过：{ $checks }

## hfx zone doctor

doctor-checking = { $centre } 正在检查各对方中心…
doctor-head = { $centre }：目录 v{ $version }，交换日志 { $entries } 条（检查点 { $checkpoint }）
doctor-head-maintenance = { $centre }：目录 v{ $version }，交换日志 { $entries } 条（检查点 { $checkpoint }），维护模式
doctor-col-peer = 对方中心
doctor-col-tcp = TCP
doctor-col-tls = TLS
doctor-col-hello = 握手
doctor-col-skew = 时钟偏差(毫秒)
doctor-col-rtt = 往返(毫秒)
doctor-col-dir = 目录
doctor-col-health = 健康
doctor-col-endpoint = 地址
doctor-ok = 正常
doctor-no-problems = 未发现问题
doctor-summary = { $problems } 个问题，{ $warnings } 个警告：
doctor-severity-problem = 问题
doctor-severity-warning = 警告
doctor-finding = { $severity } [{ $check }] { $advice }
doctor-check-tcp = 网络连接 tcp
doctor-check-tls = 加密连接 tls
doctor-check-hello = 握手 hello
doctor-check-certificate = 证书 certificate
doctor-check-crl = 吊销列表 crl
doctor-check-directory = 目录 directory
doctor-check-health = 健康 health
doctor-check-witness = 见证 witness
doctor-check-clock = 时钟 clock
doctor-check-policy = 协议 policy

## hfx zone live-check

live-head = { $name } { $id } 的在用账户核查：
live-answer = { $centre }：{ $outcome }
live-opened = { $outcome }（开户于 { $month }）
live-reason = { $outcome }（{ $reason }）
live-name-mismatch = { $outcome }（该证件号码下有账户，但姓名不同：请核对）
live-outcome-live = 有在用账户
live-outcome-closed = 账户已销户
live-outcome-none = 无账户
live-outcome-unavailable = 无法连接
live-outcome-refused = 已拒绝
live-outcome-name_mismatch = 姓名不符
live-elsewhere = 此人在其他中心有在用账户
live-incomplete = 未发现在用账户，但并非所有中心都已答复
live-none = 其他中心没有在用账户

## hfx attest request、status、revoke

attest-issued = 缴存使用证明 { $id }，出具中心 { $centre }（有效期至 { $until }），共 { $bytes } 字节：
attest-online-revoked = 在线核验：已撤销（{ $reason }），撤销时间 { $at }：{ $detail }
attest-online = 在线核验：{ $state }
attest-state-valid = 有效
attest-state-revoked = 已撤销
attest-state-expired = 已过期
attest-state-unknown = 未知
attest-state-unspecified = 未说明

## hfx audit verify、replay、reconcile：汇总行（问题行保留原文）

verify-warning-own-key = 警告：--trust-export-key：各导出文件的检查点按其文件头中的密钥核验。结果只能证明该导出文件自身一致，不能证明它就是该中心的日志：用其他密钥重新签名的伪造文件同样能通过。要按该中心的密钥核验，{ $hint }。
verify-unreadable = { $file }：无法读取：{ $error }
verify-summary = { $file }：中心 { $centre }，{ $entries } 条记录，根哈希 { $root }；已验证 { $checkpoints } 个检查点和 { $cosignatures } 个见证签名；见证至 { $witnessed }；载荷 { $present } 个完好、{ $purged } 个已清除；日志承诺的披露记录 { $disclosures } 条{ $uncommitted }（{ $secs } 秒：记录 { $entries_secs } 秒 = 每秒 { $rate } 条，载荷 { $payloads_secs } 秒）
verify-uncommitted = （其中 { $count } 条写于第 3 版结构之前，未承诺）
verify-problem-at = { $kind }，位置 { $at }：{ $detail }
verify-problem = { $kind }：{ $detail }
verify-ok = 通过
verify-ok-own-key = 通过（仅证明自身一致：按导出文件自带的密钥核验，而非目录中的密钥）
verify-failed = 未通过
replay-rebuilt = { $centre }：从日志重建披露记录 { $rebuilt } 条，数据库中 { $store } 条，载荷已清除 { $purged } 条
replay-compared = { $compared } 条记录已逐字段与其承诺比对，{ $by_hash } 条仅按哈希比对（载荷已清除），{ $before } 条写于第 3 版结构之前
replay-cases = 从日志重建转移业务 { $count } 笔
replay-case = { $case } { $role } { $state } 冻结 { $held } 划款 { $paid } 入账 { $credited }{ $released }{ $unreadable }（最后一步在 { $age } 秒前）
replay-case-released = ，已解除冻结
replay-case-unreadable = ，{ $count } 条记录无法读取（已清除）
replay-store-compared = 转移业务已与数据库（{ $rows } 行）和核心系统（{ $config }）比对：发现 { $findings } 处
replay-store-not-compared = 转移业务未与数据库或核心系统比对：请给出 --config <node.toml>
replay-agree = 日志与数据库一致
replay-differences = 存在差异
reconcile-matched = 中心 { $centres }：{ $matched } 条消息双方均有记录，{ $other } 条涉及不在本次范围内的中心
reconcile-repeated = { $count } 条记录重复了同一方已记录的消息（重试），不算断点
reconcile-breaks = 消息断点 { $count } 处
money-cases = 转移业务：{ $cases } 笔（双方均已结清 { $settled } 笔，一方未导出 { $one_sided } 笔）
money-in-flight = 在途资金（按日志）：{ $yuan }（{ $fen } 分）
money-held = 转出地冻结中   { $fen } 分，{ $cases } 笔（已发出转出记录，尚无划款通知）
money-in-transit = 银行在途       { $fen } 分，{ $cases } 笔（转出地已划款并销户，尚未入账）
money-credited-not-closed = 已入账未销户   { $fen } 分，{ $cases } 笔（转入地已入账，转出地未销户：属断点）
money-breaks = 资金断点 { $count } 处（冻结超过 { $secs } 秒即算一处）
doctor-way = { $way ->
    [ahead] 快
   *[behind] 慢
}
advice-peer-down = 对方中心 { $centre } 已停机：{ $endpoint } 无服务监听——请其运维人员启动节点（systemctl status hfx-node），或在目录中发布正确的地址
advice-peer-unreachable = 无法连接对方中心 { $centre }（{ $endpoint }，{ $error }）：请检查本机到该端口的路由和防火墙，并向其运维人员确认节点是否在运行
advice-peer-maintenance = 对方中心 { $centre } 处于维护模式：对其请求均返回 UNAVAILABLE (MAINTENANCE)，直到其运维人员结束维护（hfx node maintenance off）
advice-own-maintenance = 本节点处于维护模式：对方中心的请求均返回 UNAVAILABLE (MAINTENANCE)——维护完成后执行 hfx node maintenance off
advice-own-standby = 本进程为备用进程（写入租约在另一进程）：请对正在服务的进程运行诊断
advice-witness-evidence = 本节点保存了 { $n } 份日志分叉或回滚的证据：请立即查看（hfx witness evidence）并告知联盟各运维人员
advice-peer-clock-problem = 对方中心 { $centre } 的时钟{ doctor-way } { $secs } 秒：请修正其 NTP（chrony）——TLS 和检查点要求时钟误差在 { $limit } 秒以内
advice-peer-clock-warning = 对方中心 { $centre } 的时钟{ doctor-way } { $secs } 秒：请检查其 NTP（chronyc tracking）——超过 { $limit } 秒 TLS 和检查点将失败
advice-own-clock = 本节点时钟比联盟约{ doctor-way } { $secs } 秒（{ $n } 个对方中心中 { $count } 个一致）：请修正本机 NTP（chrony）——TLS 和检查点要求时钟误差在 { $limit } 秒以内
advice-peer-directory-older = 对方中心 { $centre } 运行目录版本 { $theirs }，本方为 { $ours }：其运维人员须安装最新签名目录并重新加载（hfx reload）
advice-peer-directory-newer = 对方中心 { $centre } 已运行目录版本 { $theirs }，本方为 { $ours }：请在本节点安装最新签名目录并重新加载（hfx reload）

## 进度条（仅在终端显示）

progress-reading = 读取中
progress-verifying = 核验中
progress-reconciling = 对账中
progress-asking-core = 查询核心系统
progress-reading-credits = 读取入账记录
